"""Check that rejecting hostile input costs neither time nor memory."""

from __future__ import annotations

import contextlib
import time
import tracemalloc
from collections.abc import Iterator


@contextlib.contextmanager
def cheap(max_seconds: float, max_peak_bytes: int = 1 << 20) -> Iterator[None]:
    """The block must finish within ``max_seconds`` and allocate at most ``max_peak_bytes`` at a time."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < max_seconds, f"took {elapsed:.3f} s"
    assert peak < max_peak_bytes, f"peak allocation {peak} bytes"
