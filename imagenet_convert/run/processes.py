"""The local runner's worker processes: noticed when one dies, and all ended when a run stops early.

Beam's local multi-process runner waits forever for a bundle whose worker was killed (by the
out-of-memory killer, say), and it leaves its workers running when the launcher is stopped by a
signal. Only the launcher can notice either, so it watches its own process tree.
"""

from __future__ import annotations

import contextlib

import psutil

WORKER_MODULE = "apache_beam.runners.worker.sdk_worker_main"
"""What Beam's local runners start each worker process as (``python -m ...``)."""


def workers() -> set[int]:
    """PIDs of the Beam worker processes below this one (not their ``sh -c`` wrappers)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if WORKER_MODULE in child.cmdline():
                found.add(child.pid)
    return found


class WorkerWatch:
    """Remembers every worker it has seen; a remembered one that is gone has died."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def dead(self) -> int | None:
        """A worker seen before that no longer exists, if any."""
        alive = workers()
        gone = self._seen - alive
        self._seen |= alive
        return min(gone) if gone else None


def end_all(grace: float = 3.0) -> None:
    """Terminate every process below this one, kill what is still there after ``grace`` seconds, and
    wait until they are gone: a command that returned must leave no worker of its own still exiting."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=grace)
