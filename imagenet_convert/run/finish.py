"""The files written once every shard is: labels.txt, imagenet_convert.json (``format/info.py``),
TFDS's metadata and run_report.json, all from the shards' markers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from imagenet_convert import __version__
from imagenet_convert.format import filenames, info, tfds
from imagenet_convert.inputs.devkit import labels_txt
from imagenet_convert.plan.model import Plan
from imagenet_convert.run.markers import ShardMarker, read_marker
from imagenet_convert.run.report import RunReport
from imagenet_convert.storage.output import OutputDir


def metadata(plan: Plan, markers: dict[str, ShardMarker]) -> dict[str, Any]:
    """imagenet_convert.json's content (``format/info.py``) from the plan and the shards' markers."""
    splits = {
        split: [
            info.ShardInfo(m.name, m.num_records, m.bytes, m.sha256, m.stats.get("boxes", 0), m.class_counts)
            for m in (markers[s.name] for s in plan.split_shards(split))
        ]
        for split in plan.options.splits
    }
    return info.dataset_info(
        len(plan.classes),
        splits,
        plan.fingerprint,
        asdict(plan.options),
        plan.inputs,
        f"imagenet-convert {__version__}",
    )


def write_metadata(
    out: OutputDir, plan: Plan, report: RunReport, pending: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """labels.txt, imagenet_convert.json, TFDS's metadata and run_report.json, from the shards' markers;
    ``pending`` names the shards this run wrote. Returns imagenet_convert.json's content."""
    markers = {s.name: read_marker(out, s.name) for s in plan.shards}
    written = metadata(plan, markers)
    out.write_atomic(out.path(filenames.LABELS), labels_txt(plan.classes).encode())
    out.write_json(out.path(filenames.INFO), written)
    for name, data in tfds.files(written, [c.wnid for c in plan.classes]).items():
        out.write_atomic(out.path(name), data)
    report.count_shards(markers, pending)
    out.write_json(out.path(filenames.RUN_REPORT), report.to_json(plan, written, markers))
    return written
