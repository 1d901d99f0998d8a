"""What a long run meets besides bad input, said in one line each: a full disk, a signal, a dead worker.

A 140 GB conversion most often fails by filling its disk, is stopped by Ctrl-C or a batch scheduler's
SIGTERM, or loses a worker to the out-of-memory killer. Each ends the run within seconds with one
line that says what happened and that the same command resumes it.
"""

from __future__ import annotations

import errno
import os
import signal
from types import FrameType

from tqdm import tqdm

DISK_FULL = {errno.ENOSPC: os.strerror(errno.ENOSPC), errno.EDQUOT: os.strerror(errno.EDQUOT)}
RESUME = "run the same command again to resume"
WATCHER_SIGNAL = signal.SIGUSR1
"""Sent by the launcher's own watcher thread to its main thread, which is blocked inside Beam."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM: not an error of the run, so not an ``Exception`` either."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.exit_status = 128 + signum


class StopWaiting(BaseException):
    """The launcher's watcher saw that Beam will not end the run by itself: a local worker vanished,
    or a shard failed and Beam kept waiting for its bundle.

    Raised inside Beam's code (by the watcher's signal), which must not mistake it for its own error.
    """


class EndedByWatcher(BaseException):
    """A run the watcher ended: its one line is printed and the launcher exits without waiting for
    Beam's threads, which may wait forever."""


class WorkerDied(EndedByWatcher):
    """A local worker process vanished (``kill -9``, the out-of-memory killer) while shards were left."""


def size(number: float) -> str:
    """Bytes in a unit that fits: ``512 B``, ``20.0 MB``, ``1.3 GB``."""
    if number < 1000:
        return f"{number:.0f} B"
    text = tqdm.format_sizeof(number, divisor=1000)  # "20.0M", "1.30G"
    return f"{text[:-1]} {text[-1]}B"


def is_disk_full(problem: BaseException | str) -> bool:
    """An ``OSError`` of a full disk or quota, or a message that carries one from another process."""
    if isinstance(problem, OSError):
        return problem.errno in DISK_FULL
    return any(text in str(problem) for text in DISK_FULL.values())


def disk_full_message(root: str, needed: int | None, free: int | None) -> str:
    """Where, how much is needed and free, and what to do."""
    sizes = [f"this run still needs about {size(needed)}"] if needed is not None else []
    sizes += [f"{size(free)} free"] if free is not None else []
    return (
        f"{root}: the disk is full ({', '.join(sizes) or 'no space left'}); free some space (or choose "
        f"another --output) and {RESUME}: finished shards are kept"
    )


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _raise_stop_waiting(signum: int, frame: FrameType | None) -> None:
    raise StopWaiting("the watcher stopped the run")


def install_handlers() -> None:
    """SIGINT and SIGTERM raise :class:`Interrupted`; the watcher's signal raises :class:`StopWaiting`."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_interrupted)
    signal.signal(WATCHER_SIGNAL, _raise_stop_waiting)


def ignore_further_signals() -> None:
    """While stopping: a second Ctrl-C or a late watcher signal must not cut the clean-up short."""
    for signum in (signal.SIGINT, signal.SIGTERM, WATCHER_SIGNAL):
        signal.signal(signum, signal.SIG_IGN)
