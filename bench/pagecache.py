"""Put the archives in the page cache, or take them out, before a timed run.

Warm runs compare CPU and write costs with the reads nearly free; cold runs add the cost of
reading from the disk, where the converter's reads by offset meet ``tar``'s sequential ones.
Eviction needs no root: ``POSIX_FADV_DONTNEED`` drops a file's clean cached pages.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from collections.abc import Iterable
from pathlib import Path

CHUNK = 8 << 20


def warm(paths: Iterable[Path]) -> int:
    """Read every byte of ``paths`` once; returns the bytes read."""
    total = 0
    for path in paths:
        with open(path, "rb", buffering=0) as handle:
            while chunk := handle.read(CHUNK):
                total += len(chunk)
    return total


def evict(paths: Iterable[Path]) -> None:
    """Drop the files' pages from the page cache (clean pages only; the archives are never written)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cached_fraction(path: Path) -> float | None:
    """Share of the file's pages now in the page cache (``mincore``); None where that cannot be asked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        libc.mmap.argtypes += [ctypes.c_long]
        size = path.stat().st_size
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        if pages == 0:
            return 1.0
        with open(path, "rb") as handle:
            address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, handle.fileno(), 0)
        if address in (None, ctypes.c_void_p(-1).value):
            return None
        try:
            vector = (ctypes.c_ubyte * pages)()
            if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector) != 0:
                return None
        finally:
            libc.munmap(ctypes.c_void_p(address), ctypes.c_size_t(size))
        return bytes(vector).count(1) / pages
    except (OSError, AttributeError):
        return None
