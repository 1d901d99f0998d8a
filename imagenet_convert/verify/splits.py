"""Each split's summary line, and its totals (records, boxes, sha256, class counts) against the metadata."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from imagenet_convert.format import filenames
from imagenet_convert.verify.mixing import Mixing, mixing
from imagenet_convert.verify.report import Problems, count
from imagenet_convert.verify.shards import ShardScan


@dataclass
class SplitSummary:
    """One split's line of the human summary, and its problems."""

    split: str
    shards: int
    problems: Problems
    shards_ok: int = 0
    records: int = 0
    boxes: int = 0
    classes: int = 0
    note: str = ""
    mixing: Mixing | None = None

    def line(self) -> str:
        counts = ((self.records, "record"), (self.classes, "class"), (self.boxes, "box"))
        counts += ((self.problems.total, "problem"),)
        return (
            f"{self.split:>10}: {self.shards_ok}/{count(self.shards, 'shard')} ok, "
            + ", ".join(count(number, noun) for number, noun in counts)
            + (f"; {self.mixing.text()}" if self.mixing else "")
            + self.note
        )


def _compare_shard(entry: dict[str, Any], scan: ShardScan, problems: Problems) -> None:
    name = entry["name"]
    if scan.complete and scan.records != entry.get("num_records", scan.records):
        problems.add(name, f"{scan.records} records, {filenames.INFO} says {entry['num_records']}")
    if scan.sha256 and scan.sha256 != entry.get("sha256", scan.sha256):
        problems.add(name, f"sha256 {scan.sha256} differs from {filenames.INFO}'s {entry['sha256']}")


def _compare_split(split: str, entry: dict[str, Any], scans: list[ShardScan], problems: Problems) -> None:
    """Totals, box count and per-class counts of a split whose shards were all read to the end."""
    boxes = sum(scan.boxes for scan in scans)
    if "num_boxes" in entry and boxes != entry["num_boxes"]:
        problems.add(split, f"{boxes} boxes, {filenames.INFO} says {entry['num_boxes']}")
    actual = sum((scan.class_counts for scan in scans), Counter())
    expected = {int(label): count for label, count in entry["class_counts"].items()}
    for label in sorted(set(actual) | set(expected)):
        if actual.get(label, 0) != expected.get(label, 0):
            says = expected.get(label, 0)
            problems.add(
                split, f"class {label}: {actual.get(label, 0)} records, {filenames.INFO} says {says}"
            )


def summarize_split(summary: SplitSummary, entry: dict[str, Any], scans: dict[str, ShardScan]) -> None:
    """Compare a split's scans with its metadata; class counts only when no shard is missing or broken,
    since the gap is reported already and would otherwise show up again as every class it touches."""
    listed = sum(shard.get("num_records", 0) for shard in entry["shards"])
    if listed != entry.get("num_examples", listed):
        summary.problems.add(
            summary.split, f"num_examples is {entry['num_examples']}, its shards hold {listed}"
        )
    read = []
    for shard in (shard for shard in entry["shards"] if shard["name"] in scans):
        scan, before = scans[shard["name"]], summary.problems.total
        summary.problems.extend(scan.problems)
        _compare_shard(shard, scan, summary.problems)
        summary.shards_ok += summary.problems.total == before
        read.append(scan)
    summary.records = sum(scan.records for scan in read)
    summary.boxes = sum(scan.boxes for scan in read)
    summary.classes = len(set().union(*(scan.class_counts for scan in read)))
    summary.mixing = mixing(read)
    unreadable = summary.shards - sum(scan.complete for scan in read)
    if unreadable:
        summary.note = f" (class counts not checked: {count(unreadable, 'shard')} missing or unreadable)"
    elif "class_counts" in entry:
        _compare_split(summary.split, entry, read, summary.problems)
