"""Which plan this run writes: the saved one when it still fits the inputs and options, else a new one
(``plan.py`` says what a plan is; ``resume.py`` when a saved one may be continued).

Under ``--overwrite`` a plan that no longer fits is discarded with every file its run wrote.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from imagenet_convert.format import filenames
from imagenet_convert.inputs.layouts import Layout
from imagenet_convert.plan.build import build_plan, fingerprint
from imagenet_convert.plan.model import Plan
from imagenet_convert.plan.store import load_manifest, plan_from_manifest, save_plan
from imagenet_convert.run import resume
from imagenet_convert.run.options import plan_options
from imagenet_convert.run.progress import class_progress
from imagenet_convert.run.report import RunReport
from imagenet_convert.storage.output import OutputDir


def discard_previous(out: OutputDir, manifest: dict[str, Any]) -> None:
    """--overwrite: remove what an earlier run wrote, and nothing else."""
    ours = [out.path(name) for entry in manifest["shards"] for name in filenames.shard_files(entry["name"])]
    out.delete(ours + [out.path(name) for name in filenames.METADATA])
    for folder in filenames.WORK_FOLDERS:
        out.delete(list(out.sizes(out.path(folder, "*"))))
    out.delete([out.path(filenames.PLAN_MANIFEST)])


def load_or_build_plan(
    args: argparse.Namespace,
    layout: Layout,
    inputs: dict[str, Any],
    mtimes: dict[str, float],
    out: OutputDir,
    report: RunReport,
) -> Plan | None:
    """The saved plan when it matches the inputs and options, else a fresh one (see :mod:`resume`);
    None when a finished conversion of these very inputs is there already."""
    options = plan_options(args)
    manifest = load_manifest(out)
    if manifest is not None:
        if not args.overwrite:
            resume.check_format(out, manifest)
        if resume.skipping_added(manifest, inputs, options):
            manifest = {**manifest, "fingerprint": fingerprint(inputs, options), "options": asdict(options)}
            if not args.dry_run:
                out.write_json(out.path(filenames.PLAN_MANIFEST), manifest)
        different = manifest["fingerprint"] != fingerprint(inputs, options)
        changed = None if args.accept_changed_inputs else resume.changed_input(manifest, mtimes)
        if different or changed:
            if not args.overwrite:
                if different:
                    resume.refuse_other_run(out, manifest, inputs, options)
                resume.refuse_changed(layout.tree, args.validation_labels, *changed)
            if not args.dry_run:
                discard_previous(out, manifest)
            manifest = None
    if manifest is not None and manifest.get("finished"):
        missing = resume.missing_shards(out, manifest)
        if missing:
            raise resume.ResumeError(
                f"{out.path(missing[0])} (and {len(missing) - 1} more) is missing from this finished "
                "conversion; restore it, or pass --overwrite to convert again"
            )
        return None
    if manifest is not None:
        with report.timed("load_plan"):
            return plan_from_manifest(manifest)
    with report.timed("index_and_plan"), class_progress() as on_class:
        plan = build_plan(layout, options, inputs, on_class)
    plan.input_mtimes = mtimes
    report.seconds.update(plan.seconds)
    if not args.dry_run:
        with report.timed("save_plan"):
            save_plan(out, plan)
    return plan
