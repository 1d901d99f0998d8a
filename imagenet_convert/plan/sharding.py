"""Seeded assignment of a split's images to evenly sized shards."""

from __future__ import annotations

import numpy as np

from imagenet_convert.errors import UsageError


class ShardingError(UsageError):
    """A shard count that cannot be honoured for this input: another --<split>-shards (or --splits)."""


def shard_rows(num_items: int, seed: int, count: int, split: str) -> list[np.ndarray]:
    """Shuffle rows ``0 .. num_items - 1`` with a seeded permutation and cut it into ``count``
    contiguous shards, as arrays of row numbers.

    Shard sizes differ by at most one. The rows must stand for items in a canonical order (sorted),
    so the result depends only on the input set and the seed.
    """
    if count < 1:
        raise ShardingError(f"--{split}-shards must be at least 1")
    if not num_items:
        raise ShardingError(f"{split}: no images to write (is the {split} archive empty?)")
    if count > num_items:
        raise ShardingError(
            f"{split}: {count} shards for {num_items} images would leave shards empty; "
            f"use --{split}-shards {max(1, num_items)} or fewer"
        )
    order = np.random.default_rng(seed).permutation(num_items)
    bounds = [num_items * i // count for i in range(count + 1)]
    return [order[bounds[i] : bounds[i + 1]] for i in range(count)]
