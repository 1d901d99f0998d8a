"""Whether a saved run may be resumed as asked, and what a finished run leaves behind.

A rerun resumes only what it would write itself: the same plan format, the same fingerprint (inputs'
names and sizes, options; --skip-bad-images may be added after a bad image stopped a run) and inputs
untouched since they were planned. Modification times are checked apart from the fingerprint, so a
folder moved with its times kept still resumes, while an archive replaced by another of the same size
is caught. A finished run keeps only ``plan.json`` in
the work folder: the record that ``--overwrite`` and these checks read.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Any, NoReturn

from apache_beam.io.filesystems import FileSystems

from imagenet_convert.errors import Failed, shown
from imagenet_convert.format import filenames
from imagenet_convert.inputs.layouts.catalogue import FOLDERS
from imagenet_convert.inputs.layouts.tree import Tree
from imagenet_convert.plan.build import fingerprint
from imagenet_convert.plan.model import Plan, PlanOptions
from imagenet_convert.plan.store import FORMAT_VERSION, SavedPlan, manifest, write_saved
from imagenet_convert.storage.output import OutputDir

ACCEPT_CHANGED = "--accept-changed-inputs"


class ResumeError(Failed):
    """A saved run that cannot be continued as asked; the message names what differs and the ways out."""


def _input_paths(tree: Tree, inputs: dict[str, Any], validation_labels: str | None) -> dict[str, str]:
    """{input name: path} of the input files named in the fingerprint (not a folder's digest)."""
    named = [name for name, value in inputs.items() if isinstance(value, int)]
    paths = {name: FileSystems.join(tree.root, name) for name in named}
    if validation_labels:
        paths[validation_labels.rsplit("/", 1)[-1]] = validation_labels  # it lives where it was given
    return paths


def input_mtimes(tree: Tree, inputs: dict[str, Any], validation_labels: str | None) -> dict[str, float]:
    """{input name: modification time} of the planned inputs; for folders, of their newest file."""
    paths = _input_paths(tree, inputs, validation_labels)
    found = FileSystems.match(list(paths.values()))
    mtimes = {
        name: result.metadata_list[0].last_updated_in_seconds
        for name, result in zip(paths, found, strict=True)
        if result.metadata_list
    }
    if FOLDERS in inputs:
        mtimes[FOLDERS] = tree.newest[0]
    return mtimes


OLDER_FORMATS = {
    1: "records inside each shard in archive order, i.e. sorted by class, where this version shuffles "
    "them as Slim does and never mixes both orders in one folder",
    2: "a plan file per shard, where this version saves the plan in one file",
}
"""What each older plan format did differently, for the refusal's message."""


def check_format(out: OutputDir, saved: SavedPlan) -> None:
    """Never resume from a plan this version cannot read, nor mix two orders of records in one folder."""
    version = saved.format_version
    if version != FORMAT_VERSION:
        why = OLDER_FORMATS.get(version, "a format this version does not know")
        raise ResumeError(
            f"{out.root} was written by an older imagenet-convert (plan format {version}: {why}); pass "
            "--overwrite to convert it again, or choose another --output"
        )


def skipping_added(saved: SavedPlan, inputs: dict[str, Any], options: PlanOptions) -> bool:
    """Whether an unfinished run differs from this one only by --skip-bad-images, given now after a bad
    image stopped it: its plan is the one this run would make (planning found no bad file, or it
    would have stopped), and its finished shards are the ones this run would write (they held no bad
    image), so it goes on, skipping bad images from here."""
    if saved.finished or not options.skip_bad_images:
        return False
    return saved.fingerprint == fingerprint(inputs, replace(options, skip_bad_images=False))


def _differences(saved: SavedPlan, inputs: dict[str, int], options: PlanOptions) -> list[str]:
    before = saved.inputs
    found = [
        f"{name}: {before.get(name, 'absent')} -> {inputs.get(name, 'absent')} bytes"
        for name in sorted(set(before) | set(inputs))
        if before.get(name) != inputs.get(name)
    ]
    for key, value in asdict(options).items():
        value = list(value) if isinstance(value, tuple) else value
        if saved.options.get(key) != value:
            found.append(f"--{key.replace('_', '-')} {saved.options.get(key)} -> {value}")
    return found


def refuse_other_run(
    out: OutputDir, saved: SavedPlan, inputs: dict[str, int], options: PlanOptions
) -> NoReturn:
    """The folder holds a conversion of other inputs or options: say which differ."""
    differences = _differences(saved, inputs, options) or ["the plan's fingerprint"]
    raise ResumeError(
        f"{out.root} holds a conversion with other inputs or options ({'; '.join(differences[:3])}); "
        "rerun with the same inputs and options to resume it, pass --overwrite to start over, or choose "
        "another --output"
    )


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def changed_input(saved: SavedPlan, mtimes: dict[str, float]) -> tuple[str, float, float] | None:
    """(name, planned, now) of the first input modified since it was planned, if any."""
    for name, planned in sorted(saved.input_mtimes.items()):
        now = mtimes.get(name)
        if now is not None and now != planned:
            return name, planned, now
    return None


def refuse_changed(
    tree: Tree, validation_labels: str | None, name: str, planned: float, now: float
) -> NoReturn:
    """Inputs modified since they were planned would mix old and new bytes in one output."""
    if name == FOLDERS:
        what = f"{shown(f'{tree.root}/{tree.newest[1]}')} (the newest file of the input folders)"
    else:
        what = _input_paths(tree, {name: 0}, validation_labels).get(name, name)
    raise ResumeError(
        f"{what} was modified since this conversion was planned "
        f"({_when(planned)} -> {_when(now)}): going on would mix shards of the old and the new file. "
        f"Restore the original, pass --overwrite to start over, or {ACCEPT_CHANGED} if only its time "
        "changed (a plain cp of the inputs does that)"
    )


def missing_shards(out: OutputDir, saved: SavedPlan) -> list[str]:
    """Shards a finished run listed that are no longer there."""
    return [name for name in saved.shard_names if not out.exists(out.path(name))]


def finish(out: OutputDir, plan: Plan) -> None:
    """After a successful run: drop per-shard state, temporaries, the log and the lock; keep the record."""
    write_saved(out, SavedPlan.of({**manifest(plan), "finished": True}))
    for folder in filenames.WORK_FOLDERS:
        out.delete(list(out.sizes(out.path(folder, "*"))))
        out.delete([out.path(folder)])  # a local folder itself (object stores have none)
    out.delete([out.path(filenames.BEAM_LOG), out.path(filenames.LOCK)])
