"""The timed steps: read and write floors, Slim's ``tar -x`` extraction, and the real ``run`` CLI.

Every step runs as a subprocess under :func:`run_measured`, so all are measured the same way
(wall clock, summed PSS of the process tree, bytes written, CPU), right after the archives were
put in or out of the page cache, and leaves nothing behind: scratch folders and each
conversion's output are deleted after being measured.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import pagecache
from bench.measure import Measurement, allocated_bytes, run_measured, wait_for_quiet
from imagenet_convert.format import filenames

EXTRACT_SCRIPT = """\
set -eu
scratch=$1 train=$2 val=$3
mkdir -p "$scratch/train" "$scratch/val"
tar -xf "$train" -C "$scratch/train"
cd "$scratch/train"
for class_tar in *.tar; do
  mkdir -p "${class_tar%.tar}"
  tar -xf "$class_tar" -C "${class_tar%.tar}"
  rm -f "$class_tar"
done
tar -xf "$val" -C "$scratch/val"
"""
"""What Slim's ``download_imagenet.sh`` does before its conversion can start (class tars deleted)."""


class BenchError(Exception):
    """A step failed; the message points at its log."""


@dataclass(frozen=True)
class Workspace:
    """Where a benchmark reads its set and writes scratch data, logs and results."""

    workdir: Path
    results: Path
    quiet_wait_s: float = 0.0
    """Before each timed step, wait up to this long for other users' processes to go quiet."""

    @property
    def logs(self) -> Path:
        return self.results / "logs"

    def scratch(self, name: str) -> Path:
        """An empty folder for one step's output, inside the workdir (same filesystem as the set)."""
        folder = self.workdir / "scratch" / slug(name)
        remove(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        return folder

    def log(self, name: str) -> Path:
        self.logs.mkdir(parents=True, exist_ok=True)
        return self.logs / f"{slug(name)}.log"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def remove(path: Path) -> None:
    """Delete a step's leftovers, then flush so their writeback does not slow the next timed step."""
    if path.exists():
        shutil.rmtree(path)
    os.sync()


def cached(archives: list[Path]) -> dict[str, float | None]:
    """Share of each archive in the page cache now."""
    return {path.name: pagecache.cached_fraction(path) for path in archives}


def prepare_cache(ws: Workspace, archives: list[Path], cold: bool) -> dict[str, float | None]:
    """Evict the other sets' archives, then warm or evict these; returns the share of each cached.

    Warming reads twice: pages read once stay on the kernel's inactive list, the first to go when
    the run's own output fills the cache; a second read promotes them to the active list.
    """
    others = [path for path in ws.workdir.glob("sets/*/ILSVRC2012_img_*.tar") if path not in archives]
    pagecache.evict(others)
    if cold:
        pagecache.evict(archives)
    else:
        pagecache.warm(archives)
        pagecache.warm(archives)
    return cached(archives)


def _measure(ws: Workspace, name: str, command: list[str], archives: list[Path], cold: bool) -> Measurement:
    cached_before = prepare_cache(ws, archives, cold)
    waited = wait_for_quiet(ws.quiet_wait_s)
    measurement = run_measured(name, command, filesystem=ws.workdir, log_path=ws.log(name))
    measurement.extra["cached_before"] = cached_before
    measurement.extra["cached_after"] = cached(archives)
    measurement.extra["waited_for_quiet_s"] = waited
    measurement.extra["archive_bytes"] = sum(path.stat().st_size for path in archives)
    if measurement.returncode != 0:
        raise BenchError(f"{name}: exit status {measurement.returncode}; see {ws.log(name)}")
    return measurement


def read_floor(ws: Workspace, archives: list[Path], cold: bool = False) -> Measurement:
    """``cat`` every archive byte to /dev/null: the least any reader can cost (cold: the disk's rate)."""
    command = ["sh", "-c", 'cat "$@" > /dev/null', "cat", *map(str, archives)]
    return _measure(ws, f"read floor ({'cold' if cold else 'warm'})", command, archives, cold)


def write_floor(ws: Workspace, archives: list[Path], direct: bool = False) -> Measurement:
    """``dd`` as many bytes as the image archives hold into one new file, no ``sync``: the disk's share.

    A conversion writes about that much (records are the images plus ~1%), so when its write phase
    comes close to this, it is bound by the disk, not by its CPU. ``direct``: ``oflag=direct``,
    around the page cache, as the converter writes its shards (``imagenet_convert/storage/direct_file.py``).
    """
    name = f"write floor: dd{' oflag=direct' if direct else ''}, archive bytes (no sync)"
    scratch = ws.scratch(name)
    scratch.mkdir()
    megabytes = sum(path.stat().st_size for path in archives) >> 20
    command = ["dd", "if=/dev/zero", f"of={scratch / 'zeros'}", "bs=1M", f"count={megabytes}", "status=none"]
    measurement = _measure(ws, name, command + ["oflag=direct"] * direct, archives, cold=False)
    remove(scratch)
    return measurement


def extraction(ws: Workspace, archives: list[Path], cold: bool) -> Measurement:
    """Extract the train tar, every class tar in it, and the validation tar, as Slim requires."""
    name = f"extract tar -x ({'cold' if cold else 'warm'})"
    scratch = ws.scratch(name)
    train, val = archives
    command = ["bash", "-c", EXTRACT_SCRIPT, "extract", str(scratch), str(train), str(val)]
    measurement = _measure(ws, name, command, archives, cold)
    measurement.extra["extracted_allocated_bytes"] = allocated_bytes(scratch)
    remove(scratch)
    return measurement


def _run_command(input_dir: Path, output: Path, options: tuple[str, ...]) -> list[str]:
    command = [sys.executable, "-m", "imagenet_convert", "run", "--input", str(input_dir)]
    return [*command, "--output", str(output), *options]


def _workers(options: tuple[str, ...]) -> int:
    """The ``--workers`` a conversion ran with (the converter's default: all cores)."""
    if "--workers" in options:
        return int(options[options.index("--workers") + 1])
    return os.cpu_count() or 1


def conversion(
    ws: Workspace,
    name: str,
    input_dir: Path,
    archives: list[Path],
    cold: bool,
    options: tuple[str, ...] = (),
    inspect: Callable[[Path], dict[str, Any]] | None = None,
) -> Measurement:
    """The real ``run`` command (default options unless ``options``) into a fresh output folder;
    ``inspect(output)`` measures the output (untimed) before it is removed, into ``extra["inspected"]``."""
    output = ws.scratch(name)
    measurement = _measure(ws, name, _run_command(input_dir, output, options), archives, cold)
    measurement.extra.update(_conversion_facts(output))
    measurement.extra["workers"] = _workers(options)
    if inspect:
        measurement.extra["inspected"] = inspect(output)
    remove(output)
    return measurement


def dry_run(
    ws: Workspace, name: str, input_dir: Path, archives: list[Path], options: tuple[str, ...] = ()
) -> Measurement:
    """``run --dry-run``: start-up, index and plan in the launcher alone; nothing is written."""
    output = ws.scratch(name)
    command = _run_command(input_dir, output, ("--dry-run", *options))
    measurement = _measure(ws, name, command, archives, cold=False)
    remove(output)
    return measurement


def _conversion_facts(output: Path) -> dict[str, Any]:
    """What the converter reported, and what it left in its output folder."""
    report = json.loads((output / filenames.RUN_REPORT).read_text())
    manifest = json.loads((output / filenames.PLAN_MANIFEST).read_text())
    return {
        "seconds": report["seconds"],
        "shard_seconds_sum": report["seconds"].get("in_shards", 0.0),
        "shard_cpu_seconds_sum": report["seconds"].get("in_shards_cpu", 0.0),
        "plan_counts": report["plan_counts"],
        "images": sum(report["images"].values()),
        "image_bytes": sum(shard["image_bytes"] for shard in manifest["shards"]),
        "shards": len(manifest["shards"]),
        "output_allocated_bytes": allocated_bytes(output),
        "work_folder_allocated_bytes": allocated_bytes(output / filenames.WORK),
    }


def extra_disk_bytes(measurement: Measurement) -> int:
    """Bytes written outside the output folder: the tree's net ``write_bytes`` minus what the output holds.

    For the extraction every byte is extra: it is all scratch that a conversion must then read.
    """
    kept = measurement.extra.get("output_allocated_bytes", 0)
    return measurement.write_bytes - kept
