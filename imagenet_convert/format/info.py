"""``imagenet_convert.json``: what a converted folder says about itself, defined once for the run that
writes it and the ``verify`` that reads it. Deterministic: no timings, so reruns give the same bytes
(what a run measured goes to ``run_report.json``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

from imagenet_convert.format.filenames import INFO_FORMAT

NAME = "imagenet2012"
REQUIRED = ("num_classes", "num_leaf_classes", "splits")
REQUIRED_PER_SPLIT = ("num_examples", "shards", "class_counts")
REQUIRED_PER_SHARD = ("name", "num_records", "sha256")
"""What every version wrote, so ``verify`` can rely on it."""


class ShardInfo(NamedTuple):
    """One shard as the metadata lists it."""

    name: str
    num_records: int
    bytes: int
    sha256: str
    num_boxes: int
    class_counts: dict[int, int]


def split_info(shards: list[ShardInfo]) -> dict[str, Any]:
    """A split's entry: its totals, shards and examples per Slim label."""
    class_counts: Counter = Counter()
    for shard in shards:
        class_counts.update(shard.class_counts)
    return {
        "num_examples": sum(s.num_records for s in shards),
        "num_boxes": sum(s.num_boxes for s in shards),
        "num_shards": len(shards),
        "shards": [
            {"name": s.name, "num_records": s.num_records, "bytes": s.bytes, "sha256": s.sha256}
            for s in shards
        ],
        "class_counts": {str(label): n for label, n in sorted(class_counts.items())},
    }


def dataset_info(
    num_leaf_classes: int,
    splits: dict[str, list[ShardInfo]],
    fingerprint: str,
    options: dict[str, Any],
    inputs: dict[str, Any],
    converter: str,
) -> dict[str, Any]:
    """The whole file; Slim's labels count the background class 0 as well."""
    return {
        "name": NAME,
        "format": INFO_FORMAT,
        "num_classes": num_leaf_classes + 1,
        "num_leaf_classes": num_leaf_classes,
        "splits": {split: split_info(shards) for split, shards in splits.items()},
        "fingerprint": fingerprint,
        "options": options,
        "inputs": inputs,
        "converter": converter,
    }


def missing_keys(info: Any) -> list[str]:
    """The required keys a file lacks (dotted paths), so a reader fails early and names them."""
    if not isinstance(info, dict):
        return ["everything"]
    missing = [key for key in REQUIRED if key not in info]
    splits: Iterable[tuple[str, Any]] = (info.get("splits") or {}).items() if not missing else ()
    for split, entry in splits:
        missing += [f"splits.{split}.{key}" for key in REQUIRED_PER_SPLIT if key not in entry]
        for index, shard in enumerate(entry.get("shards", [])):
            missing += [
                f"splits.{split}.shards[{index}].{key}" for key in REQUIRED_PER_SHARD if key not in shard
            ]
    return missing
