"""Seeded assignment of a split's images to evenly sized shards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from imagenet_convert.errors import UsageError

T = TypeVar("T")


class ShardingError(UsageError):
    """A shard count that cannot be honoured for this input: another --<split>-shards (or --splits)."""


def assign_shards(items: Sequence[T], seed: int, count: int, split: str) -> list[list[T]]:
    """Shuffle ``items`` with a seeded permutation and cut it into ``count`` contiguous shards.

    Shard sizes differ by at most one. ``items`` must already be in a canonical order (sorted),
    so the result depends only on the input set and the seed.
    """
    if count < 1:
        raise ShardingError(f"--{split}-shards must be at least 1")
    if not items:
        raise ShardingError(f"{split}: no images to write (is the {split} archive empty?)")
    if count > len(items):
        raise ShardingError(
            f"{split}: {count} shards for {len(items)} images would leave shards empty; "
            f"use --{split}-shards {max(1, len(items))} or fewer"
        )
    order = np.random.default_rng(seed).permutation(len(items))
    bounds = [len(items) * i // count for i in range(count + 1)]
    return [[items[j] for j in order[bounds[i] : bounds[i + 1]]] for i in range(count)]
