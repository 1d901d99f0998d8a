"""What the launcher shows while it works: the class tars indexed, then the shards written.

The shard bar also watches the local runner's worker processes (see :class:`ProgressMonitor`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from tqdm import tqdm

from imagenet_convert.format import filenames
from imagenet_convert.plan.model import Shard
from imagenet_convert.run import faults, processes
from imagenet_convert.run.markers import done_markers
from imagenet_convert.storage.output import OutputDir


@contextlib.contextmanager
def class_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A bar over the train tar's class tars, advanced by the planner's ``on_class`` callback."""
    bar = tqdm(desc="index class tars", unit="class", disable=None, leave=False)

    def advance(wnid: str, members: int, classes: int) -> None:
        bar.total = classes
        bar.update(1)

    try:
        yield advance
    finally:
        bar.close()


WORKER_GRACE = 5.0
"""Seconds a vanished worker is given before the run is declared broken (see ProgressMonitor)."""
ERROR_GRACE = 10.0
"""Seconds Beam is given to end the run after a shard's error line appeared (see ProgressMonitor)."""


class ProgressMonitor(threading.Thread):
    """Polls the output folder (temporary files, done markers) to draw a bar with rate and ETA.

    It also watches the local runner: a worker killed from outside leaves Beam waiting forever,
    and so, now and then, does a worker's failed bundle (seen with a full disk: both workers idle,
    the launcher waiting for their replies). The monitor then signals the main thread (see
    :mod:`faults`). ``local``: the local multi-process runner, which never retries a failed
    bundle, so a shard's error line means the run has failed; remote runners may retry it.
    """

    def __init__(self, out: OutputDir, pending: list[Shard], stream: TextIO, local: bool):
        super().__init__(daemon=True)
        self._out, self._pending = out, {shard.name: shard.image_bytes for shard in pending}
        self._halt = threading.Event()
        self._local = local
        self._workers = processes.WorkerWatch()
        self._vanished: tuple[int, float] | None = None
        self._failed_since: float | None = None
        self.dead_worker: int | None = None
        self.stopped_after_error = False
        self._bar = tqdm(
            total=sum(self._pending.values()),
            unit="B",
            unit_scale=True,
            desc="write shards",
            file=stream,
            disable=None,
            smoothing=0.1,
        )

    def run(self) -> None:
        while not self._halt.wait(0.5):
            self._refresh()

    def _refresh(self) -> None:
        done = done_markers(self._out) & set(self._pending)
        partial = sum(self._out.sizes(self._out.path(filenames.tmp("*.tmp"))).values())
        self._bar.n = min(self._bar.total, sum(self._pending[name] for name in done) + partial)
        self._bar.set_postfix_str(f"{len(done)}/{len(self._pending)} shards", refresh=True)
        self._watch_workers(len(done) < len(self._pending))
        self._watch_errors()

    def _watch_workers(self, shards_left: bool) -> None:
        """Signal the main thread once a worker has been gone for WORKER_GRACE seconds with shards left:
        Beam itself ends the workers after a failed bundle, and then raises that failure in time."""
        dead = self._workers.dead()
        if dead and self._vanished is None:
            self._vanished = dead, time.monotonic()
        if not self._vanished or not shards_left or self._halt.is_set() or self.dead_worker is not None:
            return
        if time.monotonic() - self._vanished[1] > WORKER_GRACE:
            self.dead_worker = self._vanished[0]
            os.kill(os.getpid(), faults.WATCHER_SIGNAL)

    def _watch_errors(self) -> None:
        """Signal the main thread once a shard's error line is ERROR_GRACE seconds old on the local
        runner: Beam normally fails the pipeline within a second or two of it."""
        if not self._local or self._halt.is_set() or self.stopped_after_error or self.dead_worker is not None:
            return
        if self._failed_since is None:
            if self._out.sizes(self._out.path(filenames.error("*"))):
                self._failed_since = time.monotonic()
        elif time.monotonic() - self._failed_since > ERROR_GRACE:
            self.stopped_after_error = True
            os.kill(os.getpid(), faults.WATCHER_SIGNAL)

    def vanished_worker(self) -> int | None:
        """A worker seen gone, looking once more now: Beam may report the lost worker itself (e.g.
        "Channel closed prematurely") before the watcher's next look or its grace are over."""
        if self._vanished is None:
            dead = self._workers.dead()
            if dead:
                self._vanished = dead, time.monotonic()
        return self._vanished[0] if self._vanished else None

    def halt(self) -> None:
        """The pipeline ended (or failed) by itself: nothing more to watch."""
        self._halt.set()

    def stop(self) -> None:
        self.halt()
        self.join()
        self._refresh()
        self._bar.close()
