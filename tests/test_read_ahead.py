"""Reading a shard's images ahead of use on an object store (``locators._ReadsAhead``), with fetch
functions over bytes in memory in place of ranged requests: every image comes back with its own bytes,
in the plan's order, close neighbours are fetched together, and the bytes held stay within the window.
The same reader on SeaweedFS and the GCS emulator: tests/test_s3.py, tests/test_gcs.py."""

from __future__ import annotations

import random
import threading

from imagenet_convert.inputs.archives import MAX_FILE_BYTES
from imagenet_convert.inputs.layouts.locators import Locator, ReadAhead, _Fetched, _ReadsAhead, read

OBJECT = bytes(random.Random(1).randrange(256) for _ in range(1 << 20))


class Store:
    """``OBJECT`` under two names; notes each request and the most bytes fetched and not yet used."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int, int]] = []
        self.stats: dict[str, int] = {}
        self._lock = threading.Lock()

    def fetcher(self, path: str):
        def fetch(start: int, end: int) -> tuple[bytes, int]:
            with self._lock:
                self.requests.append((path, start, end))
            return OBJECT[start:end], len(OBJECT)

        return fetch


def _plan(count: int, size: int, gap: int, seed: int = 3) -> list[Locator]:
    """``count`` images of ``size`` bytes ``gap`` apart in two objects, in a shuffled order."""
    locators = [Locator(path, i * (size + gap), size) for path in ("a", "b") for i in range(count)]
    random.Random(seed).shuffle(locators)
    return locators


def _read_all(locators: list[Locator], settings: ReadAhead) -> tuple[list[bytes], Store, int]:
    store = Store()
    ahead = _ReadsAhead(locators, {p: store.fetcher(p) for p in ("a", "b")}, settings)
    most, images = ahead._held, []
    try:
        for i, locator in enumerate(locators):
            most = max(most, ahead._held)
            data, start, size = ahead.take(i)  # type: ignore[misc]
            images.append(read(_Fetched(data, start, size, lambda: None), locator))  # type: ignore[arg-type, return-value]
    finally:
        ahead.close()
    store.stats = ahead.stats
    return images, store, most


def test_images_come_back_in_the_plans_order_with_their_own_bytes() -> None:
    locators = _plan(40, 5000, 700)
    images, _, _ = _read_all(locators, ReadAhead())
    assert images == [OBJECT[loc.offset : loc.offset + loc.size] for loc in locators]


def test_close_neighbours_are_one_request_and_their_gaps_are_counted() -> None:
    locators = _plan(40, 5000, 700)
    _, store, _ = _read_all(locators, ReadAhead())
    assert sorted(store.requests) == [("a", 0, 40 * 5700 - 700), ("b", 0, 40 * 5700 - 700)]
    assert store.stats == {"ranged_reads": 2, "gap_bytes": 2 * 39 * 700}


def test_far_apart_images_are_requests_of_their_own() -> None:
    locators = _plan(10, 5000, 70_000)
    images, store, _ = _read_all(locators, ReadAhead(merge_gap=64 << 10))
    assert len(store.requests) == 20
    assert all(end - start == 5000 for _, start, end in store.requests)


def test_bytes_held_stay_within_the_window() -> None:
    locators = _plan(60, 5000, 100)
    window = 23_000
    images, store, most = _read_all(locators, ReadAhead(in_flight=4, window_bytes=window))
    assert images == [OBJECT[loc.offset : loc.offset + loc.size] for loc in locators]
    assert most <= window
    assert all(end - start <= window for _, start, end in store.requests)


def test_an_image_larger_than_the_window_is_fetched_alone() -> None:
    locators = _plan(5, 50_000, 0)
    images, store, most = _read_all(locators, ReadAhead(window_bytes=1))
    assert len(store.requests) == 10 and most <= 50_000
    assert images == [OBJECT[loc.offset : loc.offset + loc.size] for loc in locators]


def test_failed_requests_and_oversized_images_are_left_to_the_direct_read() -> None:
    def broken(start: int, end: int) -> tuple[bytes, int]:
        raise OSError("connection reset")

    huge = Locator("a", 0, MAX_FILE_BYTES + 1)
    ahead = _ReadsAhead([Locator("a", 0, 10), huge], {"a": broken}, ReadAhead())
    try:
        assert ahead.take(0) is None  # read again without read-ahead: today's error, today's words
        assert ahead.take(1) is None  # never fetched: read() refuses its size
        assert ahead.stats["ranged_reads"] == 1
    finally:
        ahead.close()
