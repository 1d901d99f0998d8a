"""The launcher's watcher: a shard's error line that Beam does not act on stops the local run."""

from __future__ import annotations

import io
import signal
import time

import pytest

from imagenet_convert.format import filenames
from imagenet_convert.run import faults, progress
from imagenet_convert.storage.output import OutputDir


@pytest.fixture
def signals() -> list[int]:
    """The watcher's signals, recorded instead of raised."""
    seen: list[int] = []
    previous = signal.signal(faults.WATCHER_SIGNAL, lambda signum, frame: seen.append(signum))
    yield seen
    signal.signal(faults.WATCHER_SIGNAL, previous)


def _monitor_with_error(tmp_path, local: bool) -> progress.ProgressMonitor:
    out = OutputDir(str(tmp_path))
    line = b"[Errno 28] No space left on device\n"
    out.write_atomic(out.path(filenames.error("train-00000-of-00004")), line)
    return progress.ProgressMonitor(out, [], io.StringIO(), local)


def test_an_error_line_beam_ignores_stops_the_local_run(tmp_path, signals, monkeypatch):
    monkeypatch.setattr(progress, "ERROR_GRACE", 0.05)
    monitor = _monitor_with_error(tmp_path, local=True)
    monitor._refresh()  # the error line is seen: the grace starts
    assert signals == [] and not monitor.stopped_after_error
    time.sleep(0.1)
    monitor._refresh()
    monitor._refresh()  # signalled once only
    assert signals == [faults.WATCHER_SIGNAL] and monitor.stopped_after_error


def test_remote_runners_may_retry_a_failed_shard(tmp_path, signals, monkeypatch):
    monkeypatch.setattr(progress, "ERROR_GRACE", 0.0)
    monitor = _monitor_with_error(tmp_path, local=False)
    for _ in range(3):
        monitor._refresh()
    assert signals == [] and not monitor.stopped_after_error
