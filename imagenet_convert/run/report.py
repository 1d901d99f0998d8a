"""run_report.json: what this run measured and noticed, unlike the metadata, which is deterministic."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil

from imagenet_convert import __version__
from imagenet_convert.plan.model import Plan
from imagenet_convert.run.markers import ShardMarker


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
    links: list[dict[str, str]] = field(default_factory=list)
    """Symbolic links the input's listing followed out of the input folder (the first hundred)."""
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

    def count_shards(self, markers: dict[str, ShardMarker], pending: frozenset[str]) -> None:
        """Totals and skipped images of every shard; sizes and timings of those this run wrote."""
        for marker in markers.values():
            self.totals.update(marker.stats)
            self.skipped += [{"shard": marker.name, **s} for s in marker.skipped]
            if marker.name in pending:
                self.written["images"] += marker.num_records
                self.written["bytes"] += marker.bytes
        written = [m for m in markers.values() if m.name in pending and m.created is not None]
        if written:  # from start until the first shard's temporary file exists: what planning costs a user
            first = min(m.created or 0.0 for m in written)
            self.seconds["first_shard"] = round(first - self.process_created, 3)
            self.seconds["in_shards"] = round(sum(m.seconds or 0.0 for m in written), 3)
            self.seconds["in_shards_cpu"] = round(sum(m.cpu_seconds or 0.0 for m in written), 3)

    def to_json(self, plan: Plan, info: dict[str, Any], markers: dict[str, ShardMarker]) -> dict[str, Any]:
        """The saved report; ``info`` is imagenet_convert.json, for the images per split."""
        return {
            "converter": f"imagenet-convert {__version__}",
            "started_at": self.started_at,
            "runner": self.runner,
            "seconds": self.seconds,
            "written_this_run": self.written,
            "throughput": self.throughput(),
            "warnings": self.warnings,
            "plan_counts": plan.counts,
            "totals": dict(self.totals),
            "skipped_images": self.skipped,
            "links_outside_input": self.links,
            "resumed_shards": self.resumed_shards,
            "shard_workers": {name: marker.worker or "" for name, marker in sorted(markers.items())},
            "images": {split: info["splits"][split]["num_examples"] for split in plan.options.splits},
        }
