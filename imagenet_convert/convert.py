"""``python -m imagenet_convert run``: the ILSVRC2012 archives to TF-Slim TFRecords, on Apache Beam.

The launcher indexes the archives (headers only), plans every shard and saves the plan in the
output folder; a Beam pipeline then writes the shards in parallel; the launcher finally writes
``labels.txt``, ``dataset_info.json`` and ``run_report.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from tqdm import tqdm

from imagenet_convert import __version__
from imagenet_convert.archives import ArchiveError
from imagenet_convert.beam_args import parse_with_beam_options
from imagenet_convert.layouts import LAYOUTS, Layout, open_layout
from imagenet_convert.output import OutputDir
from imagenet_convert.plan import (
    RECORD_OVERHEAD,
    SPLITS,
    Plan,
    PlanOptions,
    build_plan,
    find_inputs,
    fingerprint,
    load_manifest,
    plan_from_manifest,
    save_plan,
)
from imagenet_convert.sharding import ShardingError
from imagenet_convert.stages import ConversionError, WriteShards, marker_path

DESCRIPTION = """\
Convert the ILSVRC2012 downloads, as downloaded, into sharded TFRecords in exactly TF-Slim's
format (train-00000-of-01024 ..., validation-00000-of-00128 ..., labels.txt), plus
dataset_info.json and run_report.json. Nothing is extracted to disk.

--input is the folder holding ILSVRC2012 in any of the layouts below (detected and printed;
--layout forces one). Files keep their official names.
{layouts}

Runs on a local Beam runner with --workers processes by default. Any other Apache Beam
option is passed through under Beam's own (underscore) name, e.g.
  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp
A killed or failed run resumes where it stopped when started again with the same options.
"""


class UsageError(Exception):
    """Options that cannot work together."""


@dataclass
class Report:
    """What the run measured and noticed; saved as run_report.json."""

    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    runner: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    totals: Counter = field(default_factory=Counter)
    skipped: list[dict[str, str]] = field(default_factory=list)
    resumed_shards: int = 0
    written: dict[str, int] = field(default_factory=lambda: {"images": 0, "bytes": 0})

    def throughput(self) -> dict[str, float]:
        """Images/s and MB/s of the shard-writing phase of this run."""
        seconds = self.seconds.get("write") or 0.0
        if not seconds:
            return {}
        return {
            "images_per_second": round(self.written["images"] / seconds, 1),
            "megabytes_per_second": round(self.written["bytes"] / seconds / 1e6, 1),
        }

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[stage] = round(time.monotonic() - start, 3)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m imagenet_convert run",
        description=DESCRIPTION.format(
            layouts="\n".join(f"  {name:<12} {layout.key_files}" for name, layout in LAYOUTS.items())
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument(
        "--input", required=True,
        help="folder (or gs://, s3:// prefix) holding the downloads; for Kaggle also the ZIP itself",
    )  # fmt: skip
    p.add_argument(
        "--layout", choices=sorted(LAYOUTS), help="read --input as this layout (default: detect it)"
    )
    p.add_argument("--output", required=True, help="folder for the shards and metadata")
    p.add_argument("--splits", default="train,validation", help="comma-separated: train, validation")
    p.add_argument("--train-shards", type=int, default=1024, help="number of train shards (1024)")
    p.add_argument("--validation-shards", type=int, default=128, help="number of validation shards (128)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the shard permutation (12345)")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1,
        help="local worker processes (default: all cores); ignored by remote runners",
    )  # fmt: skip
    p.add_argument(
        "--validation-labels", metavar="FILE",
        help="Slim's 50,000-line WNID file; must agree with the devkit ground truth",
    )  # fmt: skip
    p.add_argument(
        "--validation-boxes", action="store_true",
        help="also write validation boxes from ILSVRC2012_bbox_val_v3.tgz (Slim writes none)",
    )  # fmt: skip
    p.add_argument(
        "--allow-missing-classes", action="store_true",
        help="go on when the train tar lacks some devkit classes (an incomplete download)",
    )  # fmt: skip
    p.add_argument(
        "--skip-bad-images", action="store_true",
        help="leave damaged images out (listed in run_report.json) instead of stopping",
    )  # fmt: skip
    p.add_argument("--strict", action="store_true", help="stop at a malformed box XML instead of skipping it")
    p.add_argument(
        "--overwrite", action="store_true",
        help="discard an earlier run's plan and shards in --output (only files this tool wrote)",
    )  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="print the plan and free space; write nothing")
    return p


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options (hyphens) and Beam's (underscores); anything else is an error."""
    p = parser()
    args, beam_args = parse_with_beam_options(p, argv)
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    if not splits or any(s not in SPLITS for s in splits):
        p.error(f"--splits takes train, validation or both, not {args.splits!r}")
    args.splits = tuple(s for s in SPLITS if s in splits)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    return args, beam_args


def plan_options(args: argparse.Namespace) -> PlanOptions:
    return PlanOptions(
        splits=args.splits, seed=args.seed, train_shards=args.train_shards,
        validation_shards=args.validation_shards, validation_boxes=args.validation_boxes,
        allow_missing_classes=args.allow_missing_classes, skip_bad_images=args.skip_bad_images,
        strict=args.strict, validation_labels=args.validation_labels,
    )  # fmt: skip


def beam_options(args: argparse.Namespace, beam_args: list[str]) -> PipelineOptions:
    """A local multi-process runner unless the user chose a runner (never Prism's download)."""
    if not any(arg.startswith("--runner") for arg in beam_args):
        beam_args = [
            "--runner=FnApiRunner", "--direct_running_mode=multi_processing",
            f"--direct_num_workers={args.workers}", *beam_args,
        ]  # fmt: skip
    return PipelineOptions(["--default_sdk_harness_log_level=WARNING", *beam_args])


def _runner_name(args: argparse.Namespace, beam_args: list[str]) -> str:
    runner = beam_options(args, beam_args).get_all_options()["runner"]
    return f"{runner}, {args.workers} workers" if runner == "FnApiRunner" else str(runner)


def _is_local(path: str) -> bool:
    return "://" not in path


@contextlib.contextmanager
def output_lock(out: OutputDir) -> Iterator[None]:
    """One conversion per local output folder; object stores have no locks (see README)."""
    if not _is_local(out.root):
        yield
        return
    import fcntl

    os.makedirs(out.work(), exist_ok=True)
    with open(out.work("lock"), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UsageError(
                f"{out.root}: another conversion ({holder}) is writing here; wait for it to finish "
                "or choose another --output"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield


def prepare_output(out: OutputDir) -> None:
    """Create the output folder, or say clearly why it cannot be written."""
    if not _is_local(out.root):
        return
    try:
        os.makedirs(out.work("tmp"), exist_ok=True)
        probe = out.work("tmp", ".write-probe")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise UsageError(
            f"{out.root}: output folder is not writable ({exc.strerror}); choose another --output"
        ) from None


def discard_previous(out: OutputDir, manifest: dict[str, Any]) -> None:
    """--overwrite: remove what an earlier run wrote, and nothing else."""
    ours = [out.path(entry["name"]) for entry in manifest["shards"]]
    ours += [out.path(name) for name in ("labels.txt", "dataset_info.json", "run_report.json")]
    out.delete(ours)
    for folder in ("plan", "done", "errors", "tmp"):
        out.delete(list(out.sizes(out.work(folder, "*"))))
    out.delete([out.work("plan.json")])


def load_or_build_plan(
    args: argparse.Namespace, layout: Layout, inputs: dict[str, Any], out: OutputDir, report: Report
) -> Plan:
    """The saved plan when it matches the inputs and options, else a fresh one."""
    options = plan_options(args)
    wanted = fingerprint(inputs, options)
    manifest = load_manifest(out)
    if manifest is not None and manifest["fingerprint"] != wanted:
        if not args.overwrite:
            raise UsageError(
                f"{out.root} holds a conversion with other inputs or options (seed, shard counts, "
                "splits...); rerun with the same options to resume it, pass --overwrite to start over, "
                "or choose another --output"
            )
        if not args.dry_run:
            discard_previous(out, manifest)
        manifest = None
    if manifest is not None:
        with report.timed("load_plan"):
            plan = plan_from_manifest(out, manifest)
        return plan
    with report.timed("index_and_plan"), _class_progress() as on_class:
        plan = build_plan(layout, options, inputs, on_class)
    report.seconds.update(plan.seconds)
    if not args.dry_run:
        with report.timed("save_plan"):
            save_plan(out, plan)
    return plan


@contextlib.contextmanager
def _class_progress() -> Iterator[Any]:
    bar = tqdm(desc="index class tars", unit="class", disable=None, leave=False)

    def advance(wnid: str, members: int, classes: int) -> None:
        bar.total = classes
        bar.update(1)

    try:
        yield advance
    finally:
        bar.close()


def done_markers(out: OutputDir) -> set[str]:
    return {path.rsplit("/", 1)[-1].removesuffix(".json") for path in out.sizes(out.work("done", "*.json"))}


def _existing_parent(path: str) -> str:
    while not os.path.isdir(path) and os.path.dirname(os.path.abspath(path)) != os.path.abspath(path):
        path = os.path.dirname(os.path.abspath(path))
    return path


def check_free_space(out: OutputDir, needed: int) -> int | None:
    """Free bytes at a local output (None for object stores); stop early when short."""
    if not _is_local(out.root):
        return None
    free = shutil.disk_usage(out.root).free
    if needed > free:
        raise UsageError(
            f"{out.root}: needs about {needed / 1e9:.1f} GB but only {free / 1e9:.1f} GB are free; "
            "free some space or choose another --output"
        )
    return free


@contextlib.contextmanager
def beam_logs_to(out: OutputDir) -> Iterator[TextIO]:
    """Send the worker processes' chatter to a log file; yield the real stderr for our own output."""
    if not _is_local(out.root):
        yield sys.stderr
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(out.work("beam.log"), "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            with os.fdopen(os.dup(saved), "w") as real_stderr:
                yield real_stderr
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


class ProgressMonitor(threading.Thread):
    """Polls the output folder (temporary files, done markers) to draw a bar with rate and ETA."""

    def __init__(self, out: OutputDir, pending: list, stream: TextIO):
        super().__init__(daemon=True)
        self._out, self._pending = out, {shard.name: shard.image_bytes for shard in pending}
        self._halt = threading.Event()
        self._bar = tqdm(
            total=sum(self._pending.values()), unit="B", unit_scale=True, desc="write shards",
            file=stream, disable=None, smoothing=0.1,
        )  # fmt: skip

    def run(self) -> None:
        while not self._halt.wait(0.5):
            self._refresh()

    def _refresh(self) -> None:
        done = done_markers(self._out) & set(self._pending)
        partial = sum(self._out.sizes(self._out.work("tmp", "*.tmp")).values())
        self._bar.n = min(self._bar.total, sum(self._pending[name] for name in done) + partial)
        self._bar.set_postfix_str(f"{len(done)}/{len(self._pending)} shards", refresh=True)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self._refresh()
        self._bar.close()


def run_pipeline(
    args: argparse.Namespace, beam_args: list[str], out: OutputDir, pending: list, input_root: str
) -> None:
    names = [shard.name for shard in pending]
    with beam_logs_to(out) as stream:
        monitor = ProgressMonitor(out, pending, stream)
        monitor.start()
        try:
            with beam.Pipeline(options=beam_options(args, beam_args)) as pipeline:
                _ = (
                    pipeline
                    | "ShardNames" >> beam.Create(names)
                    | "WriteShards" >> WriteShards(out.root, input_root, args.skip_bad_images, beam_args)
                )
        except Exception as exc:
            errors = sorted(out.sizes(out.work("errors", "*.txt")))
            if errors:
                raise ConversionError(out.read_bytes(errors[0]).decode().strip()) from None
            last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ConversionError(
                f"the Beam pipeline failed: {last} (details in {out.work('beam.log')})"
            ) from exc
        finally:
            monitor.stop()


def dataset_info(plan: Plan, markers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Deterministic metadata beside the shards: no timings, so reruns give the same bytes."""
    splits = {}
    for split in plan.options.splits:
        shards = [markers[s.name] for s in plan.split_shards(split)]
        class_counts: Counter = Counter()
        for marker in shards:
            class_counts.update({int(k): v for k, v in marker["class_counts"].items()})
        splits[split] = {
            "num_examples": sum(m["num_records"] for m in shards),
            "num_boxes": sum(m["stats"].get("boxes", 0) for m in shards),
            "num_shards": len(shards),
            "shards": [{k: m[k] for k in ("name", "num_records", "bytes", "sha256")} for m in shards],
            "class_counts": {str(label): n for label, n in sorted(class_counts.items())},
        }
    return {
        "name": "imagenet2012",
        "format": "tf-slim",
        "num_classes": len(plan.classes) + 1,
        "num_leaf_classes": len(plan.classes),
        "splits": splits,
        "fingerprint": plan.fingerprint,
        "options": asdict(plan.options),
        "inputs": plan.inputs,
        "converter": f"imagenet-convert {__version__}",
    }


def write_metadata(
    out: OutputDir, plan: Plan, report: Report, pending: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """labels.txt, dataset_info.json and run_report.json, from the shards' markers."""
    markers = {s.name: out.read_json(marker_path(out, s.name)) for s in plan.shards}
    info = dataset_info(plan, markers)
    labels = ["0:background"] + [f"{i}:{c.words}" for i, c in enumerate(plan.classes, start=1)]
    out.write_atomic(out.path("labels.txt"), ("\n".join(labels) + "\n").encode())
    out.write_json(out.path("dataset_info.json"), info)
    for marker in markers.values():
        report.totals.update(marker["stats"])
        report.skipped += [{"shard": marker["name"], **s} for s in marker["skipped"]]
        if marker["name"] in pending:
            report.written["images"] += marker["num_records"]
            report.written["bytes"] += marker["bytes"]
    out.write_json(
        out.path("run_report.json"),
        {
            "converter": f"imagenet-convert {__version__}",
            "started_at": report.started_at,
            "runner": report.runner,
            "seconds": report.seconds,
            "written_this_run": report.written,
            "throughput": report.throughput(),
            "warnings": report.warnings,
            "plan_counts": plan.counts,
            "totals": dict(report.totals),
            "skipped_images": report.skipped,
            "resumed_shards": report.resumed_shards,
            "images": {split: info["splits"][split]["num_examples"] for split in plan.options.splits},
        },
    )
    return info


def print_plan(plan: Plan, done: set[str], free: int | None, stream: TextIO) -> None:
    for split in plan.options.splits:
        shards = plan.split_shards(split)
        images = sum(len(s.images) for s in shards)
        size = sum(s.image_bytes for s in shards)
        left = sum(1 for s in shards if s.name not in done)
        print(
            f"{split:>10}: {images} images in {len(shards)} shards ({size / 1e9:.2f} GB), {left} to write",
            file=stream,
        )
    if free is not None:
        print(f"free space at output: {free / 1e9:.1f} GB", file=stream)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=stream)


def print_summary(info: dict[str, Any], report: Report, wall: float) -> None:
    print(f"done in {wall:.1f} s")
    for split, entry in info["splits"].items():
        print(
            f"{split:>10}: {entry['num_examples']} images, {entry['num_shards']} shards, "
            f"{entry['num_boxes']} boxes"
        )
    quirks = {k: report.totals[k] for k in ("png", "cmyk", "grayscale", "reencoded") if report.totals[k]}
    if quirks:
        print("    quirks: " + ", ".join(f"{k} {v}" for k, v in quirks.items()))
    if report.skipped:
        print(f"   skipped: {len(report.skipped)} damaged images (see run_report.json)")
    if report.resumed_shards:
        print(f"   resumed: {report.resumed_shards} shards were already complete")
    if rate := report.throughput():
        print(
            f"throughput: {rate['images_per_second']:.0f} images/s, {rate['megabytes_per_second']:.0f} MB/s "
            f"while writing shards ({report.runner})"
        )


def _dry_run(out: OutputDir, plan: Plan, done: set[str], needed: int) -> int:
    free = shutil.disk_usage(_existing_parent(out.root)).free if _is_local(out.root) else None
    print_plan(plan, done, free, sys.stdout)
    print(f"would write about {needed / 1e9:.2f} GB; --dry-run wrote nothing")
    return 0


def convert(args: argparse.Namespace, beam_args: list[str]) -> int:
    """Plan (or reload the plan), write the shards that are not done yet, then the metadata."""
    started = time.monotonic()
    out = OutputDir(args.output)
    report = Report(runner=_runner_name(args, beam_args))
    layout = open_layout(args.input, args.layout, args.skip_bad_images, args.validation_labels)
    print(f"input layout: {layout.describe()}")
    inputs = find_inputs(layout, plan_options(args))
    if not args.dry_run:
        prepare_output(out)
    with output_lock(out) if not args.dry_run else contextlib.nullcontext():
        plan = load_or_build_plan(args, layout, inputs, out, report)
        report.warnings = list(plan.warnings)
        report.skipped = list(plan.skipped)
        done = {name for name in done_markers(out) if out.exists(out.path(name))}
        pending = [shard for shard in plan.shards if shard.name not in done]
        needed = sum(s.image_bytes + RECORD_OVERHEAD * len(s.images) for s in pending)
        if args.dry_run:
            return _dry_run(out, plan, done, needed)
        check_free_space(out, needed)
        for warning in plan.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        out.delete(list(out.sizes(out.work("tmp", "*"))) + list(out.sizes(out.work("errors", "*"))))
        report.resumed_shards = len(plan.shards) - len(pending)
        if pending:
            with report.timed("write"):
                run_pipeline(args, beam_args, out, pending, layout.tree.root)
        report.seconds["total"] = round(time.monotonic() - started, 3)
        info = write_metadata(out, plan, report, frozenset(shard.name for shard in pending))
    print_summary(info, report, time.monotonic() - started)
    print(f"output: {out.root}")
    return 0


def main(argv: list[str]) -> int:
    args, beam_args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    try:
        return convert(args, beam_args)
    except (ArchiveError, ConversionError, ShardingError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
