"""A command that runs out of memory ends with one line saying so, not with the kernel's silent kill."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from imagenet_convert.trainer import memory

# Allocates up to 4 GiB in 64 MiB steps under a guard whose reserve leaves it 256 MiB of room.
_GREEDY = """
import time
import numpy as np
from imagenet_convert.trainer import memory
with memory.guard("vgg_416 at --batch_size 64", reserve=memory.available_bytes() - (256 << 20)):
    held = []
    for _ in range(64):
        held.append(np.ones(64 << 20, np.uint8))
        time.sleep(0.02)
print("never stopped")
"""


@pytest.mark.slow
def test_the_guard_stops_a_process_before_memory_runs_out() -> None:
    result = subprocess.run([sys.executable, "-c", _GREEDY], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "never stopped" not in result.stdout
    line = result.stderr.strip()
    assert line.startswith("error: out of memory in vgg_416 at --batch_size 64: this process holds ")
    assert line.endswith("use a smaller --batch_size (or image size), or a machine with more memory")


def test_available_memory_is_positive_and_below_the_total() -> None:
    assert 0 < memory.available_bytes() <= psutil.virtual_memory().total
    assert memory.reserve_bytes() >= memory.RESERVE_MIN_BYTES
