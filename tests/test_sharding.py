"""Seeded, even assignment of rows to shards."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagenet_convert.format.filenames import shard_name
from imagenet_convert.plan.sharding import ShardingError, shard_rows

ITEMS = [f"n01440764_{n}.JPEG" for n in range(1000)]


def assign_shards(items: list, seed: int, count: int, split: str) -> list[list]:
    return [[items[j] for j in rows] for rows in shard_rows(len(items), seed, count, split)]


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 300), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_every_item_once_and_sizes_differ_by_at_most_one(size: int, data: st.DataObject, seed: int) -> None:
    count = data.draw(st.integers(1, size), label="count")
    items = list(range(size))
    shards = assign_shards(items, seed, count, "train")
    assert len(shards) == count
    assert sorted(item for shard in shards for item in shard) == items
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


@pytest.mark.parametrize(("size", "count"), [(50000, 128), (1000, 24), (10, 3), (7, 7)])
def test_slim_split_sizes(size: int, count: int) -> None:
    """Slim's validation split: 50,000 images in 128 shards hold 390 or 391 each."""
    sizes = {len(shard) for shard in assign_shards(list(range(size)), 12345, count, "train")}
    assert sizes <= {size // count, size // count + 1}


def test_deterministic_for_a_seed_and_different_for_another() -> None:
    first = assign_shards(ITEMS, 12345, 8, "train")
    assert assign_shards(list(ITEMS), 12345, 8, "train") == first
    assert assign_shards(ITEMS, 12346, 8, "train") != first
    assert first != [ITEMS[i : i + 125] for i in range(0, 1000, 125)]  # actually shuffled


@pytest.mark.parametrize(
    ("size", "count", "message"),
    [
        (
            5,
            6,
            "validation: 6 shards for 5 images would leave shards empty; use --validation-shards 5 or fewer",
        ),
        (0, 1, r"validation: no images to write \(is the validation archive empty\?\)"),
        (5, 0, "--validation-shards must be at least 1"),
        (5, -3, "--validation-shards must be at least 1"),
    ],
)
def test_impossible_shard_counts(size: int, count: int, message: str) -> None:
    with pytest.raises(ShardingError, match=f"^{message}$"):
        assign_shards(ITEMS[:size], 0, count, "validation")


@pytest.mark.parametrize(
    ("split", "index", "count", "name"),
    [
        ("train", 0, 1024, "train-00000-of-01024"),
        ("train", 1023, 1024, "train-01023-of-01024"),
        ("validation", 5, 128, "validation-00005-of-00128"),
        ("train", 123456, 200000, "train-123456-of-200000"),
    ],
)
def test_shard_name(split: str, index: int, count: int, name: str) -> None:
    assert shard_name(split, index, count) == name
