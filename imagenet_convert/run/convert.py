"""``python -m imagenet_convert run``: the ILSVRC2012 archives to TF-Slim TFRecords, on Apache Beam.

The launcher indexes the archives (headers only), plans every shard and saves the plan in the
output folder; a Beam pipeline then writes the shards (and their index files) in parallel; the
launcher finally writes ``labels.txt``, ``imagenet_convert.json``, TFDS's metadata and
``run_report.json`` and prints a summary. This module is that flow, as calls that only go down:
the configuration (``options.py``, ``config.py``), the survey of the input (``survey.py``), the plan
(``planning.py``), the pipeline (``pipeline.py``), the files written last (``finish.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import NoReturn

from imagenet_convert.format import filenames
from imagenet_convert.plan.build import gc_paused, give_back_memory
from imagenet_convert.plan.model import Plan, Shard, bytes_to_write
from imagenet_convert.run import faults, processes, resume
from imagenet_convert.run.checks import (
    OutputError,
    check_apart,
    check_free_space,
    free_bytes,
    output_lock,
    prepare_output,
)
from imagenet_convert.run.config import RunConfig
from imagenet_convert.run.finish import write_metadata
from imagenet_convert.run.markers import done_shards
from imagenet_convert.run.options import parse_args
from imagenet_convert.run.pipeline import run_pipeline
from imagenet_convert.run.planning import load_or_build_plan
from imagenet_convert.run.report import RunReport
from imagenet_convert.run.summary import print_plan, print_summary
from imagenet_convert.run.survey import survey
from imagenet_convert.storage.output import OutputDir


def _dry_run(out: OutputDir, plan: Plan, done: set[str], needed: int) -> int:
    print_plan(plan, done, free_bytes(out), sys.stdout)
    print(f"would write about {needed / 1e9:.2f} GB; --dry-run wrote nothing")
    return 0


def convert(config: RunConfig) -> int:
    """Survey the input, plan (or reload the plan), write the shards not done yet, then the metadata."""
    started = time.monotonic()
    out = OutputDir(config.output)
    report = RunReport(runner=config.runner.name)
    check_apart(config.input, config.output)
    with gc_paused():
        found = survey(config)
    print(f"input layout: {found.layout.describe()}")
    if not config.resume.dry_run:
        prepare_output(out)
    with output_lock(out) if not config.resume.dry_run else contextlib.nullcontext():
        with gc_paused():
            plan = load_or_build_plan(config, found, out, report)
        if plan is None:
            print(f"{out.root}: this conversion is complete and its inputs are unchanged; nothing to do")
            return 0
        input_root = found.layout.tree.root
        del found  # its listing of every input file is not needed to write the shards
        pending = _pending(out, plan, report)
        needed = bytes_to_write(pending)
        if config.resume.dry_run:
            return _dry_run(out, plan, set(done_shards(out)), needed)
        check_free_space(out, needed)
        _clear_stale(out, plan)
        if pending:
            with report.timed("write"):
                run_pipeline(
                    config.runner, config.plan.skip_bad_images, out, pending, input_root, config.read_ahead
                )
        report.seconds["total"] = round(time.monotonic() - started, 3)
        info = write_metadata(out, plan, report, frozenset(shard.name for shard in pending))
        resume.finish(out, plan)
    print_summary(info, report, time.monotonic() - started)
    print(f"output: {out.root}")
    return 0


def _pending(out: OutputDir, plan: Plan, report: RunReport) -> list[Shard]:
    """The shards not done yet; the launcher keeps only their summaries from here on."""
    plan.forget_images()
    give_back_memory()
    report.warnings, report.skipped, report.links = list(plan.warnings), list(plan.skipped), list(plan.links)
    done = done_shards(out)
    pending = [shard for shard in plan.shards if shard.name not in done]
    report.resumed_shards = len(plan.shards) - len(pending)
    return pending


def _clear_stale(out: OutputDir, plan: Plan) -> None:
    """Warn of what planning noticed, and drop an earlier attempt's temporaries and error lines."""
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    stale = [out.path(folder, "*") for folder in (filenames.TMP_FOLDER, filenames.ERRORS_FOLDER)]
    out.delete([path for pattern in stale for path in out.sizes(pattern)])


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
    """Errors propagate to ``__main__`` (one line and the family's exit status), except those that
    must end the process at once: a watcher's verdict or a signal, with Beam's threads still waiting."""
    config = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    faults.install_handlers()
    try:
        return convert(config)
    except OSError as exc:
        if not faults.is_disk_full(exc):
            raise
        free = free_bytes(OutputDir(config.output))
        raise OutputError(faults.disk_full_message(config.output, None, free)) from None
    except faults.EndedByWatcher as exc:  # a vanished worker, or a failed shard Beam left unanswered
        _stop(f"error: {exc}", 1)
    except faults.Interrupted as exc:
        _stop(f"interrupted; {faults.RESUME}", exc.exit_status)
