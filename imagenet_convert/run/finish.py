"""The files written once every shard is: labels.txt, imagenet_convert.json (its schema is here),
TFDS's metadata and run_report.json, all from the shards' markers."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from imagenet_convert import __version__
from imagenet_convert.format import filenames, tfds
from imagenet_convert.inputs.devkit import labels_txt
from imagenet_convert.plan.model import Plan
from imagenet_convert.run.markers import ShardMarker, read_marker
from imagenet_convert.run.report import RunReport
from imagenet_convert.storage.output import OutputDir


def metadata(plan: Plan, markers: dict[str, ShardMarker]) -> dict[str, Any]:
    """imagenet_convert.json, deterministic: no timings, so reruns give the same bytes."""
    splits = {}
    for split in plan.options.splits:
        shards = [markers[s.name] for s in plan.split_shards(split)]
        class_counts: Counter = Counter()
        for marker in shards:
            class_counts.update(marker.class_counts)
        splits[split] = {
            "num_examples": sum(m.num_records for m in shards),
            "num_boxes": sum(m.stats.get("boxes", 0) for m in shards),
            "num_shards": len(shards),
            "shards": [
                {"name": m.name, "num_records": m.num_records, "bytes": m.bytes, "sha256": m.sha256}
                for m in shards
            ],
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
    """labels.txt, imagenet_convert.json, TFDS's metadata and run_report.json, from the shards' markers;
    ``pending`` names the shards this run wrote. Returns imagenet_convert.json's content."""
    markers = {s.name: read_marker(out, s.name) for s in plan.shards}
    info = metadata(plan, markers)
    out.write_atomic(out.path(filenames.LABELS), labels_txt(plan.classes).encode())
    out.write_json(out.path(filenames.INFO), info)
    for name, data in tfds.files(info, [c.wnid for c in plan.classes]).items():
        out.write_atomic(out.path(name), data)
    report.count_shards(markers, pending)
    out.write_json(out.path(filenames.RUN_REPORT), report.to_json(plan, info, markers))
    return info
