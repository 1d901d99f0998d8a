"""``python -m imagenet_convert run``: the ILSVRC2012 archives to TF-Slim TFRecords, on Apache Beam.

The launcher indexes the archives (headers only), plans every shard and saves the plan in the
output folder; a Beam pipeline then writes the shards (and their index files) in parallel; the
launcher finally writes ``labels.txt``, ``imagenet_convert.json``, TFDS's metadata and
``run_report.json`` and prints a summary. This module is that flow and its exit statuses; each step
lives in a module of its own: ``run_options``, ``output_checks``, ``planning``, ``beam_run``,
``metadata`` and ``summary``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from typing import NoReturn

from imagenet_convert.errors import UsageError
from imagenet_convert.format import filenames
from imagenet_convert.inputs.archives import ArchiveError
from imagenet_convert.inputs.layouts import open_layout
from imagenet_convert.plan.build import find_inputs, gc_paused, give_back_memory
from imagenet_convert.plan.model import Plan, PlanError, bytes_to_write
from imagenet_convert.plan.store import manifest
from imagenet_convert.run import faults, processes, resume
from imagenet_convert.run.checks import (
    OutputError,
    check_apart,
    check_free_space,
    free_bytes,
    output_lock,
    prepare_output,
)
from imagenet_convert.run.finish import write_metadata
from imagenet_convert.run.markers import done_shards
from imagenet_convert.run.options import parse_args, plan_options
from imagenet_convert.run.pipeline import run_pipeline, runner_name
from imagenet_convert.run.planning import load_or_build_plan
from imagenet_convert.run.report import RunReport
from imagenet_convert.run.stages import ConversionError
from imagenet_convert.run.summary import print_plan, print_summary
from imagenet_convert.storage.output import OutputDir


def _dry_run(out: OutputDir, plan: Plan, done: set[str], needed: int) -> int:
    print_plan(plan, done, free_bytes(out), sys.stdout)
    print(f"would write about {needed / 1e9:.2f} GB; --dry-run wrote nothing")
    return 0


def convert(args: argparse.Namespace, beam_args: list[str]) -> int:
    """Plan (or reload the plan), write the shards that are not done yet, then the metadata."""
    started = time.monotonic()
    out = OutputDir(args.output)
    report = RunReport(runner=runner_name(args, beam_args))
    check_apart(args.input, args.output)
    with gc_paused():
        layout = open_layout(
            args.input, args.layout, args.skip_bad_images, args.validation_labels, output=args.output
        )
        print(f"input layout: {layout.describe()}")
        inputs = find_inputs(layout, plan_options(args))
        mtimes = resume.input_mtimes(layout.tree, inputs, args.validation_labels)
    if not args.dry_run:
        prepare_output(out)
    with output_lock(out) if not args.dry_run else contextlib.nullcontext():
        with gc_paused():
            plan = load_or_build_plan(args, layout, inputs, mtimes, out, report)
        if plan is None:
            print(f"{out.root}: this conversion is complete and its inputs are unchanged; nothing to do")
            return 0
        plan.forget_images()
        root = layout.tree.root
        del layout  # its listing of every input file is not needed to write the shards
        give_back_memory()
        report.warnings = list(plan.warnings)
        report.skipped = list(plan.skipped)
        report.links = list(plan.links)
        done = done_shards(out)
        pending = [shard for shard in plan.shards if shard.name not in done]
        needed = bytes_to_write(pending)
        if args.dry_run:
            return _dry_run(out, plan, done, needed)
        check_free_space(out, needed)
        for warning in plan.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        stale = [out.path(folder, "*") for folder in (filenames.TMP_FOLDER, filenames.ERRORS_FOLDER)]
        out.delete([path for pattern in stale for path in out.sizes(pattern)])
        report.resumed_shards = len(plan.shards) - len(pending)
        if pending:
            with report.timed("write"):
                run_pipeline(args, beam_args, out, pending, root)
        report.seconds["total"] = round(time.monotonic() - started, 3)
        info = write_metadata(out, plan, report, frozenset(shard.name for shard in pending))
        resume.finish(out, manifest(plan))
    print_summary(info, report, time.monotonic() - started)
    print(f"output: {out.root}")
    return 0


def _stop(line: str, status: int) -> NoReturn:
    """End a run cut short: every process of ours, then this one, without waiting for Beam's threads
    (they may wait forever for a worker that is gone)."""
    faults.ignore_further_signals()
    processes.end_all()
    print(line, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main(argv: list[str]) -> int:
    args, beam_args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    faults.install_handlers()
    try:
        return convert(args, beam_args)
    except UsageError as exc:  # ShardingError included
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ArchiveError, PlanError, ConversionError, OutputError, resume.ResumeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if not faults.is_disk_full(exc):
            raise
        print(
            f"error: {faults.disk_full_message(args.output, None, free_bytes(OutputDir(args.output)))}",
            file=sys.stderr,
        )
        return 1
    except faults.EndedByWatcher as exc:  # a vanished worker, or a failed shard Beam left unanswered
        _stop(f"error: {exc}", 1)
    except faults.Interrupted as exc:
        _stop(f"interrupted; {faults.RESUME}", exc.exit_status)
