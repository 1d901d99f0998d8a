"""``python -m imagenet_convert run``: the ILSVRC2012 archives to TF-Slim TFRecords, on Apache Beam.

The launcher indexes the archives (headers only), plans every shard and saves the plan in the
output folder; a Beam pipeline then writes the shards (and their index files) in parallel; the
launcher finally writes ``labels.txt``, ``imagenet_convert.json``, TFDS's metadata and
``run_report.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn, TextIO

import apache_beam as beam
import psutil
from apache_beam.options.pipeline_options import PipelineOptions
from tqdm import tqdm

from imagenet_convert import __version__, faults, filenames, processes, resume, tfds_metadata
from imagenet_convert.archives import ArchiveError
from imagenet_convert.beam_args import DASK_RUNNER, parse_with_beam_options
from imagenet_convert.devkit import labels_txt
from imagenet_convert.errors import UsageError
from imagenet_convert.layouts import LAYOUTS, Layout, open_layout
from imagenet_convert.output import OutputDir, absolute
from imagenet_convert.plan import (
    RECORD_OVERHEAD,
    SPLITS,
    Plan,
    PlanError,
    PlanOptions,
    build_plan,
    find_inputs,
    fingerprint,
    gc_paused,
    load_manifest,
    plan_from_manifest,
    save_plan,
)
from imagenet_convert.stages import ConversionError, WriteShards

DESCRIPTION = """\
Convert the ILSVRC2012 downloads, as downloaded, into sharded TFRecords in exactly TF-Slim's
format (train-00000-of-01024 ..., validation-00000-of-00128 ..., labels.txt), plus
imagenet_convert.json and run_report.json. Nothing is extracted to disk. The same folder also
serves TFDS (tfds.builder_from_directory reads its dataset_info.json, features.json) and NVIDIA
DALI (an index file per shard in index/).

--input is the folder holding ILSVRC2012 in any of the layouts below (detected and printed;
--layout forces one). Files keep their official names.
{layouts}

Runs on a local Beam runner with --workers processes by default. Any other Apache Beam
option is passed through under Beam's own (underscore) name, e.g.
  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp
  --runner DaskRunner --dask_client_address tcp://HOST:8786     (the dask extra; SLURM, Kubernetes)
A killed or failed run resumes where it stopped when started again with the same options.
"""


class OutputError(Exception):
    """The output folder cannot take this run: another run holds it, or its disk lacks the space."""


@dataclass
class RunReport:
    """What the run measured and noticed; saved as run_report.json."""

    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    process_created: float = field(default_factory=lambda: psutil.Process().create_time())
    """When this process started (interpreter start-up included), in seconds since the epoch."""
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
    p.add_argument(
        resume.ACCEPT_CHANGED, action="store_true",
        help="resume although an input's modification time changed since it was planned (after a plain cp)",
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
    for split in args.splits:
        if getattr(args, f"{split}_shards") < 1:
            p.error(f"--{split}-shards must be at least 1")
    return args, beam_args


def plan_options(args: argparse.Namespace) -> PlanOptions:
    return PlanOptions(
        splits=args.splits, seed=args.seed, train_shards=args.train_shards,
        validation_shards=args.validation_shards, validation_boxes=args.validation_boxes,
        allow_missing_classes=args.allow_missing_classes, skip_bad_images=args.skip_bad_images,
        strict=args.strict, validation_labels=args.validation_labels,
    )  # fmt: skip


def beam_options(args: argparse.Namespace, beam_args: list[str]) -> PipelineOptions:
    """A local multi-process runner unless the user chose a runner (never Prism's download).

    On Dask every shard is a task of its own unless the user says otherwise: Beam's Dask runner
    would put 128 shards in each task, leaving all but a few workers idle.
    """
    if not any(arg.startswith("--runner") for arg in beam_args):
        beam_args = [
            "--runner=FnApiRunner", "--direct_running_mode=multi_processing",
            f"--direct_num_workers={args.workers}", *beam_args,
        ]  # fmt: skip
    elif PipelineOptions(beam_args).get_all_options()["runner"] == DASK_RUNNER and not any(
        arg.startswith(("--dask_npartitions", "--dask_partition_size")) for arg in beam_args
    ):
        beam_args = ["--dask_partition_size=1", *beam_args]
    return PipelineOptions(["--default_sdk_harness_log_level=WARNING", *beam_args])


def _runner_name(args: argparse.Namespace, beam_args: list[str]) -> str:
    options = beam_options(args, beam_args).get_all_options()
    runner = str(options["runner"])
    if runner == "FnApiRunner":
        return f"{runner}, {args.workers} workers"
    if runner == DASK_RUNNER:
        where = options.get("address") or options.get("scheduler_file") or "a local Dask cluster"
        return f"DaskRunner, {where}"
    return runner


def _is_local(path: str) -> bool:
    return "://" not in path


@contextlib.contextmanager
def output_lock(out: OutputDir) -> Iterator[None]:
    """One conversion per local output folder; object stores have no locks (see README)."""
    if not _is_local(out.root):
        yield
        return
    import fcntl

    os.makedirs(out.path(filenames.WORK), exist_ok=True)
    with open(out.path(filenames.LOCK), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OutputError(
                f"{out.root}: another conversion ({holder}) is writing here; wait for it to finish "
                "or choose another --output"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield


def prepare_output(out: OutputDir) -> None:
    """Create the output folder, or say clearly why it cannot be written (a usage error: --output
    names a place this run cannot write to)."""
    if not _is_local(out.root):
        return
    try:
        os.makedirs(out.path(filenames.TMP_FOLDER), exist_ok=True)
        probe = out.path(filenames.tmp(".write-probe"))
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise UsageError(
            f"{out.root}: output folder is not writable ({exc.strerror}); choose another --output"
        ) from None


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
    with report.timed("index_and_plan"), _class_progress() as on_class:
        plan = build_plan(layout, options, inputs, on_class)
    plan.input_mtimes = mtimes
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
    return {filenames.marker_shard(path) for path in out.sizes(out.path(filenames.marker("*")))}


def done_shards(out: OutputDir) -> set[str]:
    """Shards whose marker, file and index all exist (a marker is written last, but files can be lost)."""
    return {
        name for name in done_markers(out)
        if all(out.exists(out.path(path)) for path in filenames.shard_files(name))
    }  # fmt: skip


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
        raise OutputError(
            f"{out.root}: needs about {faults.size(needed)} but only {faults.size(free)} are free; "
            "free some space or choose another --output"
        )
    return free


def free_bytes(out: OutputDir) -> int | None:
    """Free bytes where a local output lives (None on object stores, which do not fill up)."""
    return shutil.disk_usage(_existing_parent(out.root)).free if _is_local(out.root) else None


def _drain(pipe: int, path: str) -> None:
    """Copy the pipe into the log until every writer closed it; drop what the disk cannot take."""
    try:
        log = open(path, "ab")  # noqa: SIM115 (closed below, or dropped when the disk is full)
    except OSError:
        log = None
    with open(pipe, "rb", buffering=0) as source:
        for chunk in iter(lambda: source.read(1 << 16), b""):
            try:
                if log:
                    log.write(chunk)
                    log.flush()
            except OSError:
                log.close()
                log = None
    if log:
        log.close()


@contextlib.contextmanager
def beam_logs_to(out: OutputDir) -> Iterator[TextIO]:
    """Send the worker processes' chatter to a log file; yield the real stderr for our own output.

    The log is fed through a pipe that a thread drains: when a write to stderr fails (a log on a
    full disk), Beam's runner waits forever for the bundle, so stderr itself must never fail.
    """
    if not _is_local(out.root):
        yield sys.stderr
        return
    sys.stderr.flush()
    saved = os.dup(2)
    reader, writer = os.pipe()
    drain = threading.Thread(target=_drain, args=(reader, out.path(filenames.BEAM_LOG)), daemon=True)
    drain.start()
    os.dup2(writer, 2)
    os.close(writer)
    try:
        with os.fdopen(os.dup(saved), "w") as real_stderr:
            yield real_stderr
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        drain.join(timeout=5)  # ends once the workers, which share the pipe, are gone


WORKER_GRACE = 5.0
"""Seconds a vanished worker is given before the run is declared broken (see ProgressMonitor)."""


class ProgressMonitor(threading.Thread):
    """Polls the output folder (temporary files, done markers) to draw a bar with rate and ETA.

    It also watches the local runner's worker processes: one killed from outside leaves Beam
    waiting forever, so the monitor then signals the main thread (see :mod:`faults`).
    """

    def __init__(self, out: OutputDir, pending: list, stream: TextIO):
        super().__init__(daemon=True)
        self._out, self._pending = out, {shard.name: shard.image_bytes for shard in pending}
        self._halt = threading.Event()
        self._workers = processes.WorkerWatch()
        self._vanished: tuple[int, float] | None = None
        self.dead_worker: int | None = None
        self._bar = tqdm(
            total=sum(self._pending.values()), unit="B", unit_scale=True, desc="write shards",
            file=stream, disable=None, smoothing=0.1,
        )  # fmt: skip

    def run(self) -> None:
        while not self._halt.wait(0.5):
            self._refresh()

    def _refresh(self) -> None:
        done = done_markers(self._out) & set(self._pending)
        partial = sum(self._out.sizes(self._out.path(filenames.tmp("*.tmp"))).values())
        self._bar.n = min(self._bar.total, sum(self._pending[name] for name in done) + partial)
        self._bar.set_postfix_str(f"{len(done)}/{len(self._pending)} shards", refresh=True)
        self._watch_workers(len(done) < len(self._pending))

    def _watch_workers(self, shards_left: bool) -> None:
        """Signal the main thread once a worker has been gone for WORKER_GRACE seconds with shards left:
        Beam itself ends the workers after a failed bundle, and then raises that failure in time."""
        dead = self._workers.dead()
        if dead and self._vanished is None:
            self._vanished = dead, time.monotonic()
        if not self._vanished or not shards_left or self._halt.is_set() or self.dead_worker is not None:
            return
        if time.monotonic() - self._vanished[1] > WORKER_GRACE:
            self.dead_worker = self._vanished[0]
            os.kill(os.getpid(), faults.WORKER_DIED_SIGNAL)

    def halt(self) -> None:
        """The pipeline ended (or failed) by itself: nothing more to watch."""
        self._halt.set()

    def stop(self) -> None:
        self.halt()
        self.join()
        self._refresh()
        self._bar.close()


@contextlib.contextmanager
def temporary_files_in(out: OutputDir) -> Iterator[None]:
    """Beam's own temporary folders go to the output's work folder, not $TMPDIR, where a killed run
    would leave them among other programs' files; the next run clears that folder."""
    if not _is_local(out.root):
        yield
        return
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    # Workers inherit TMPDIR.
    tempfile.tempdir = os.environ["TMPDIR"] = absolute(out.path(filenames.TMP_FOLDER))
    try:
        yield
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]


def _pipeline_failure(out: OutputDir, exc: Exception, pending: list) -> Exception:
    """One line for a failed pipeline: a full disk, the worker's own error line, or Beam's last line."""
    errors = sorted(out.sizes(out.path(filenames.error("*"))))
    line = out.read_bytes(errors[0]).decode().strip() if errors else ""
    if faults.is_disk_full(line or exc):
        left = [shard for shard in pending if shard.name not in done_markers(out)]
        needed = sum(s.image_bytes + RECORD_OVERHEAD * s.num_images for s in left)
        return OutputError(faults.disk_full_message(out.root, needed, free_bytes(out)))
    if line:
        return ConversionError(line)
    last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    details = out.path(filenames.BEAM_LOG) if _is_local(out.root) else "the log above and the workers' logs"
    return ConversionError(f"the Beam pipeline failed: {last} (details in {details})")


def run_pipeline(
    args: argparse.Namespace, beam_args: list[str], out: OutputDir, pending: list, input_root: str
) -> None:
    names = [shard.name for shard in pending]
    with beam_logs_to(out) as stream, temporary_files_in(out):
        monitor = ProgressMonitor(out, pending, stream)
        monitor.start()
        try:
            with beam.Pipeline(options=beam_options(args, beam_args)) as pipeline:
                _ = (
                    pipeline
                    | "ShardNames" >> beam.Create(names)
                    | "WriteShards" >> WriteShards(out.root, input_root, args.skip_bad_images, beam_args)
                )
        except faults.WorkerDied:
            raise faults.WorkerDied(
                f"worker process {monitor.dead_worker} ended while shards were left (killed from outside, "
                f"e.g. by the out-of-memory killer: fewer --workers use less memory); {faults.RESUME}"
            ) from None
        except Exception as exc:
            monitor.halt()
            raise _pipeline_failure(out, exc, pending) from None
        finally:
            monitor.stop()


def metadata(plan: Plan, markers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """imagenet_convert.json, deterministic: no timings, so reruns give the same bytes."""
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
    out: OutputDir, plan: Plan, report: RunReport, pending: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """labels.txt, imagenet_convert.json, TFDS's metadata and run_report.json, from the shards' markers."""
    markers = {s.name: out.read_json(out.path(filenames.marker(s.name))) for s in plan.shards}
    info = metadata(plan, markers)
    out.write_atomic(out.path(filenames.LABELS), labels_txt(plan.classes).encode())
    out.write_json(out.path(filenames.INFO), info)
    for name, data in tfds_metadata.files(info, [c.wnid for c in plan.classes]).items():
        out.write_atomic(out.path(name), data)
    for marker in markers.values():
        report.totals.update(marker["stats"])
        report.skipped += [{"shard": marker["name"], **s} for s in marker["skipped"]]
        if marker["name"] in pending:
            report.written["images"] += marker["num_records"]
            report.written["bytes"] += marker["bytes"]
    written = [m for m in markers.values() if m["name"] in pending and "created" in m]
    if written:  # from start until the first shard's temporary file exists: what planning costs a user
        report.seconds["first_shard"] = round(min(m["created"] for m in written) - report.process_created, 3)
        report.seconds["in_shards"] = round(sum(m["seconds"] for m in written), 3)
        report.seconds["in_shards_cpu"] = round(sum(m["cpu_seconds"] for m in written), 3)
    out.write_json(
        out.path(filenames.RUN_REPORT),
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
            "shard_workers": {name: marker.get("worker", "") for name, marker in sorted(markers.items())},
            "images": {split: info["splits"][split]["num_examples"] for split in plan.options.splits},
        },
    )
    return info


def print_plan(plan: Plan, done: set[str], free: int | None, stream: TextIO) -> None:
    for split in plan.options.splits:
        shards = plan.split_shards(split)
        images = sum(s.num_images for s in shards)
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


def print_summary(info: dict[str, Any], report: RunReport, wall: float) -> None:
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
    report = RunReport(runner=_runner_name(args, beam_args))
    with gc_paused():
        layout = open_layout(args.input, args.layout, args.skip_bad_images, args.validation_labels)
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
        del layout  # its catalogue of every input file is not needed to write the shards
        report.warnings = list(plan.warnings)
        report.skipped = list(plan.skipped)
        done = done_shards(out)
        pending = [shard for shard in plan.shards if shard.name not in done]
        needed = sum(s.image_bytes + RECORD_OVERHEAD * s.num_images for s in pending)
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
        resume.finish(out, plan.manifest())
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
        print(f"error: {faults.disk_full_message(args.output, None, free_bytes(OutputDir(args.output)))}",
              file=sys.stderr)  # fmt: skip
        return 1
    except faults.WorkerDied as exc:
        _stop(f"error: {exc}", 1)
    except faults.Interrupted as exc:
        _stop(f"interrupted; {faults.RESUME}", exc.exit_status)
