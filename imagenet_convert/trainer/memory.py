"""Stop a command that is running out of memory with a message, before the kernel kills it without one.

On a CPU, TensorFlow's allocations succeed until the machine (or the container's cgroup) has nothing
left; then the kernel's OOM killer ends the process with SIGKILL and no output: what a batch too big
for VGG-416's activations does. A watcher thread compares the memory still available with a small
reserve and, when it falls below, says what ran out and what to do, and exits with status 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil

POLL_SECONDS = 0.05
"""VGG-416 at 224 px allocates ~100 MB per layer and batch image, a few hundred MB per poll at most."""
RESERVE_FRACTION = 0.03
RESERVE_MIN_BYTES = 256 << 20
_CGROUP = Path("/sys/fs/cgroup")
_GIB = 1 << 30


def _cgroup_headroom() -> int | None:
    """Bytes the cgroup v2 limit still allows (its reclaimable page cache counted as free), or None."""
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((_CGROUP / "memory.current").read_text())
        stat = dict(line.split() for line in (_CGROUP / "memory.stat").read_text().splitlines())
        return int(limit) - used + int(stat.get("inactive_file", 0))
    except (OSError, ValueError):
        return None


def available_bytes() -> int:
    """Memory that can still be had: the machine's available memory, or less under a cgroup limit."""
    available = psutil.virtual_memory().available
    cgroup = _cgroup_headroom()
    return available if cgroup is None else min(available, cgroup)


def reserve_bytes() -> int:
    """Below this much available memory the kernel is about to kill something."""
    return max(RESERVE_MIN_BYTES, int(psutil.virtual_memory().total * RESERVE_FRACTION))


def message(what: str, detail: str) -> str:
    """One line: what ran out, why, and what to do."""
    return (
        f"out of memory in {what}: {detail}; use a smaller --batch_size (or image size), or a "
        "machine with more memory"
    )


def _exhausted(held: int, left: int) -> str:
    total = psutil.virtual_memory().total
    return (
        f"this process holds {held / _GIB:.1f} GiB and the machine has {left / _GIB:.2f} GiB left "
        f"(of {total / _GIB:.1f} GiB)"
    )


@contextlib.contextmanager
def guard(what: str, reserve: int | None = None) -> Iterator[None]:
    """While the block runs, exit with status 1 and ``message`` when available memory falls below
    ``reserve`` bytes (default ``reserve_bytes()``)."""
    stop = threading.Event()
    reserve = reserve_bytes() if reserve is None else reserve

    def watch() -> None:
        process = psutil.Process()
        while not stop.wait(POLL_SECONDS):
            left = available_bytes()
            if left < reserve:
                print(
                    f"error: {message(what, _exhausted(process.memory_info().rss, left))}",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(1)  # TensorFlow's threads would keep allocating during a normal exit

    watcher = threading.Thread(target=watch, name="memory-guard", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
