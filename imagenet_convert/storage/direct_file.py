"""A local file written around the page cache (``O_DIRECT``), for the shards' gigabytes.

Why: a buffered ``write(2)`` copies every byte into page-cache pages the kernel must first find,
and on a virtual machine whose free memory the host reclaims (a balloon with free-page reporting)
each fresh page is also a host fault. Measured on this project's 2-core VM: 31-45 us of kernel
time per 109 KB image buffered, 3-4 us with ``O_DIRECT``; ``dd`` writes 0.4-0.9 GB/s buffered and
2.4 GB/s direct. The shards are written once and not read back by the run, so caching them only
evicts what the machine had cached.

The bytes are gathered in two page-aligned buffers: one is written by a helper thread while the
other fills (``os.write`` releases the GIL). The last part that is not a whole number of blocks is
written without ``O_DIRECT``, so the file ends exactly where its bytes do. Where the file system
refuses ``O_DIRECT`` (at open or at the first write), the same file is written buffered.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

BLOCK = 4096
"""Alignment of ``O_DIRECT`` offsets, lengths and buffers: a multiple of every common block size."""
BUFFER = 1 << 20
"""Bytes per buffer: a few writes per shard, so the disk works while the next buffer fills."""


class _Shared:
    """What the files of one process share; a forked child starts its own (threads do not fork)."""

    def __init__(self) -> None:
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="direct-file")
        """The helper thread of every file (the disk, not the thread, is what they share)."""
        self.spare: list[list[mmap.mmap]] = []
        """Buffer pairs of closed files: a new page costs a fault (a host fault on such VMs)."""
        self.lock = threading.Lock()


_SHARED = _Shared()


def _after_fork() -> None:
    global _SHARED
    _SHARED = _Shared()


os.register_at_fork(after_in_child=_after_fork)


def _take_buffers(size: int) -> list[mmap.mmap]:
    with _SHARED.lock:
        for index, pair in enumerate(_SHARED.spare):
            if len(pair[0]) == size:
                return _SHARED.spare.pop(index)
    return [mmap.mmap(-1, size), mmap.mmap(-1, size)]  # page-aligned, as O_DIRECT needs


class DirectFile:
    """A new file's write-only stream that bypasses the page cache where the file system allows."""

    def __init__(self, path: str, buffer_size: int = BUFFER, direct: bool = True):
        assert buffer_size % BLOCK == 0, "O_DIRECT writes whole blocks"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        self._direct = direct
        try:
            self._fd = os.open(path, flags | (os.O_DIRECT if direct else 0), 0o666)
        except OSError as exc:
            if not direct or exc.errno != errno.EINVAL:
                raise
            self._fd, self._direct = os.open(path, flags, 0o666), False
        self._buffers = _take_buffers(buffer_size)
        self._views = [memoryview(buffer) for buffer in self._buffers]
        self._size, self._current, self._fill = buffer_size, 0, 0
        self._pending: Future | None = None
        self.helper_cpu_seconds = 0.0
        """CPU time of the helper thread's writes, which the caller's thread clock does not see."""

    def write(self, data: bytes) -> int:
        size, end = len(data), self._fill + len(data)
        if end < self._size:  # the common case: a record's chunk fits in the current buffer
            self._views[self._current][self._fill : end] = data
            self._fill = end
            return size
        view, done = memoryview(data), 0
        while done < size:
            take = min(size - done, self._size - self._fill)
            self._views[self._current][self._fill : self._fill + take] = view[done : done + take]
            self._fill += take
            done += take
            if self._fill == self._size:
                self._hand_over()
        return size

    def _hand_over(self) -> None:
        """Start writing the full buffer in the helper thread and fill the other one meanwhile."""
        self._wait()
        self._pending = _SHARED.writer.submit(self._write_timed, self._views[self._current])
        self._current, self._fill = 1 - self._current, 0

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()  # a write's error (a full disk) surfaces here, in the caller's thread

    def _write_timed(self, data: memoryview) -> None:
        """The helper thread's write, its CPU time counted."""
        started = time.thread_time()
        try:
            self._write_all(data)
        finally:
            self.helper_cpu_seconds += time.thread_time() - started

    def _write_all(self, data: memoryview) -> None:
        while data:
            try:
                written = os.write(self._fd, data)
            except OSError as exc:
                if not self._direct or exc.errno != errno.EINVAL:
                    raise
                self._buffered()  # the file system's blocks are larger than BLOCK, or it refuses
                continue
            data = data[written:]

    def _buffered(self) -> None:
        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        self._direct = False

    def close(self) -> None:
        """Write what is left, the unaligned tail without ``O_DIRECT``, and close the file."""
        try:
            self._wait()
            buffer = self._views[self._current]
            whole = self._fill // BLOCK * BLOCK
            self._write_all(buffer[:whole])
            if self._direct and whole < self._fill:
                self._buffered()
            self._write_all(buffer[whole : self._fill])
        finally:
            self._release()

    def abort(self) -> None:
        """Stop without writing what is buffered (the caller deletes the file)."""
        try:
            with contextlib.suppress(OSError):  # the error being handled is the one to report
                self._wait()
        finally:
            self._release()

    def _release(self) -> None:
        os.close(self._fd)
        for view in self._views:
            view.release()
        with _SHARED.lock:
            _SHARED.spare.append(self._buffers)

    def __enter__(self) -> DirectFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
