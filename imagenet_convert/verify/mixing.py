"""How mixed the records inside the shards are: how often neighbours share a label, next to a shuffle."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from imagenet_convert.verify.shards import ShardScan

SORTED_INSIDE = 3.0
"""A same-label share of neighbours above this many times a shuffle's means class-sorted shards."""


@dataclass(frozen=True)
class Mixing:
    """How often neighbouring records of a shard share a label, next to what a shuffle gives.

    Readers interleave a few shards through a small buffer: class-sorted shards (as imagenet-convert
    0.1 wrote them) give batches of a few classes, and nothing else would tell the user.
    """

    same: float
    shuffled: float
    """sum n_i (n_i - 1) / (N (N - 1)) over the split's class counts n_i."""

    @property
    def sorted_inside(self) -> bool:
        return self.same > SORTED_INSIDE * self.shuffled

    def text(self) -> str:
        return f"neighbours share a label {self.same:.1%} of the time (shuffled: {self.shuffled:.1%})"

    def warning(self, split: str) -> str:
        return (
            f"warning: {split}: {self.same:.1%} of neighbouring records share a label, "
            f"{self.same / self.shuffled:.1f}x a shuffle's {self.shuffled:.1%}: the shards are sorted by "
            "class inside, so training batches mix few classes; convert again with this version "
            "(run ... --overwrite), which shuffles inside every shard as Slim does"
        )


def mixing(scans: Iterable[ShardScan]) -> Mixing | None:
    """The split's mixing figure from its scans (None when it has too few records to tell)."""
    scans = list(scans)
    pairs = sum(scan.adjacent_pairs for scan in scans)
    counts = sum((scan.class_counts for scan in scans), Counter())
    total = sum(counts.values())
    if not pairs or total < 2:
        return None
    shuffled = sum(n * (n - 1) for n in counts.values()) / (total * (total - 1))
    return Mixing(sum(scan.same_label_pairs for scan in scans) / pairs, shuffled)
