"""The generated input sets of the benchmarks, built once and reused while complete.

Generation takes minutes (the scale set much longer), so a set is kept under the workdir with a
marker written only after the generator returned; a set whose marker, options or archive sizes
disagree is generated again from scratch.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from imagenet_convert.fake import ARCHIVES, FakeOptions, generate
from imagenet_convert.fake.cli import FULL_CARDINALITY

MARKER = "bench-set.json"
TRAIN_TAR, VAL_TAR = ARCHIVES[0], ARCHIVES[1]
IMAGE_ARCHIVES = (TRAIN_TAR, VAL_TAR)
"""The two tars holding the image bytes: what is read, extracted and converted."""

POOL = 32
"""Distinct encodings per class and kind: the converter never decodes ordinary JPEGs, so reusing
pixels changes nothing it does, and generation drops from ~25 min to ~1 min."""


@dataclass(frozen=True)
class BenchSet:
    """A named generated download."""

    name: str
    options: FakeOptions
    purpose: str


STANDARD = BenchSet(
    "bench",
    FakeOptions(classes=100, train_per_class=(500, 500), val_images=10_000, box_fraction=0.4, pool_size=POOL),
    "50,000 train images over 100 classes + 10,000 validation, ~110 KB mean, boxes for ~40% of train",
)
DOUBLE = BenchSet(
    "bench-2x",
    FakeOptions(
        classes=100,
        train_per_class=(500, 500),
        val_images=10_000,
        box_fraction=0.4,
        pool_size=POOL,
        min_side=280,
        max_side=710,
    ),
    "the standard set's counts with ~2x the image bytes (sides x1.41: ~220 KB mean)",
)
SCALE = BenchSet(
    "scale",
    FakeOptions(**FULL_CARDINALITY),
    "full cardinality: 1000 classes, 1,281,167 train (732-1300 per class) + 50,000 validation, tiny images",
)
SCALE_EXTRACTED = BenchSet(
    "scale-extracted",
    FakeOptions(**FULL_CARDINALITY, layout="extracted"),
    "the full-cardinality set extracted: 1.33 M image files in train/<wnid>/ and val/, XML beside",
)


def _marker(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_complete(folder: Path, bench_set: BenchSet) -> bool:
    """The marker exists, names the same options, and every file has the size it recorded."""
    marker = _marker(folder)
    if marker is None or marker.get("options") != json.loads(json.dumps(asdict(bench_set.options))):
        return False
    files: dict[str, int] = marker.get("summary", {}).get("files", {})
    return bool(files) and all(
        (folder / name).is_dir()  # a layout's folder (summing a million sizes would take long)
        if name.endswith("/")
        else (folder / name).is_file() and (folder / name).stat().st_size == size
        for name, size in files.items()
    )


def ensure(workdir: Path, bench_set: BenchSet, log: Any = print) -> tuple[Path, dict[str, Any]]:
    """The set's folder and its generator summary, generating it first if needed."""
    folder = workdir / "sets" / bench_set.name
    if is_complete(folder, bench_set):
        log(f"reusing {bench_set.name} set in {folder}")
        return folder, json.loads((folder / MARKER).read_text())["summary"]
    log(f"generating {bench_set.name} set ({bench_set.purpose}) in {folder}")
    shutil.rmtree(folder, ignore_errors=True)
    started = time.monotonic()
    summary = generate(folder, bench_set.options, progress=True)
    seconds = round(time.monotonic() - started, 1)
    marker = {"options": asdict(bench_set.options), "summary": summary, "seconds": seconds}
    (folder / MARKER).write_text(json.dumps(marker, indent=1, default=list) + "\n")
    log(f"generated in {seconds} s: mean image {summary['mean_image_bytes']} bytes")
    return folder, summary


def image_archives(folder: Path) -> list[Path]:
    """The image tars of a set (what the read floor, extraction and eviction act on)."""
    return [folder / name for name in IMAGE_ARCHIVES]
