"""What ``run`` prints: the plan (also all of ``--dry-run``) and the closing summary."""

from __future__ import annotations

from typing import Any, TextIO

from imagenet_convert.plan.model import Plan
from imagenet_convert.run.report import RunReport


def print_plan(plan: Plan, done: set[str], free: int | None, stream: TextIO) -> None:
    """Per split: images, shards, size and how many are left; the free space; planning's warnings."""
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
    """Per split from imagenet_convert.json, then quirks, skipped and resumed shards, and throughput."""
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
