"""Which plan this run writes: the saved one when it still fits the inputs and options, else a new one
(``plan/`` says what a plan is; ``resume.py`` when a saved one may be continued). Every resume
decision is made here, on the typed saved plan.

Under ``--overwrite`` a plan that no longer fits is discarded with every file its run wrote.
"""

from __future__ import annotations

from imagenet_convert.format import filenames
from imagenet_convert.plan.build import build_plan, fingerprint
from imagenet_convert.plan.model import Plan
from imagenet_convert.plan.store import SavedPlan, load_saved, save_plan, write_saved
from imagenet_convert.run import resume
from imagenet_convert.run.config import RunConfig
from imagenet_convert.run.progress import class_progress
from imagenet_convert.run.report import RunReport
from imagenet_convert.run.survey import Survey
from imagenet_convert.storage.output import OutputDir


def discard_previous(out: OutputDir, saved: SavedPlan) -> None:
    """--overwrite: remove what an earlier run wrote, and nothing else."""
    ours = [out.path(name) for shard in saved.shard_names for name in filenames.shard_files(shard)]
    out.delete(ours + [out.path(name) for name in filenames.METADATA])
    for folder in filenames.WORK_FOLDERS:
        out.delete(list(out.sizes(out.path(folder, "*"))))
    out.delete([out.path(filenames.PLAN_MANIFEST)])


def _resumable(config: RunConfig, found: Survey, out: OutputDir) -> SavedPlan | None:
    """The saved plan when this run may continue it; refuses, or discards it under --overwrite, when
    it was made for other inputs or options, or its inputs changed since."""
    saved, policy, options = load_saved(out), config.resume, config.plan
    if saved is None:
        return None
    if not policy.overwrite:
        resume.check_format(out, saved)
    if resume.skipping_added(saved, found.inputs, options):
        saved = saved.refingerprinted(fingerprint(found.inputs, options), options)
        if not policy.dry_run:
            write_saved(out, saved)
    different = saved.fingerprint != fingerprint(found.inputs, options)
    changed = None if policy.accept_changed_inputs else resume.changed_input(saved, found.mtimes)
    if not (different or changed):
        return saved
    if not policy.overwrite:
        if different:
            resume.refuse_other_run(out, saved, found.inputs, options)
        resume.refuse_changed(found.layout.tree, options.validation_labels, *changed)
    if not policy.dry_run:
        discard_previous(out, saved)
    return None


def load_or_build_plan(config: RunConfig, found: Survey, out: OutputDir, report: RunReport) -> Plan | None:
    """The saved plan when it matches the inputs and options, else a fresh one (see :mod:`resume`);
    None when a finished conversion of these very inputs is there already."""
    saved = _resumable(config, found, out)
    if saved is not None and saved.finished:
        missing = resume.missing_shards(out, saved)
        if missing:
            raise resume.ResumeError(
                f"{out.path(missing[0])} (and {len(missing) - 1} more) is missing from this finished "
                "conversion; restore it, or pass --overwrite to convert again"
            )
        return None
    if saved is not None:
        with report.timed("load_plan"):
            return saved.plan()
    with report.timed("index_and_plan"), class_progress() as on_class:
        plan = build_plan(found.layout, config.plan, found.inputs, on_class)
    plan.input_mtimes = found.mtimes
    report.seconds.update(plan.seconds)
    if not config.resume.dry_run:
        with report.timed("save_plan"):
            save_plan(out, plan)
    return plan
