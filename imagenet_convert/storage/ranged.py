"""Exact ranged reads of an object in a bucket: each read fetches the bytes it asks for, no more.

Beam's readers for object stores fetch far ahead of a read (to the end of the object on S3, at least
16 MiB on GCS) and throw the rest away when the reader seeks elsewhere. A conversion reads one image
per seek, so they would fetch the archive many times over; :mod:`imagenet_convert.storage.s3` and
:mod:`imagenet_convert.storage.gcs` read archives through this instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from apache_beam.io.filesystemio import Downloader, DownloaderStream


class ExactRanges(Downloader):
    """An object of ``size`` bytes read by ``fetch(start, end)``, one request per read."""

    def __init__(self, size: int, fetch: Callable[[int, int], bytes]):
        self._size, self._fetch = size, fetch

    @property
    def size(self) -> int:
        return self._size

    def get_range(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``."""
        return self._fetch(start, end) if end > start else b""


def open_exact(size: int, fetch: Callable[[int, int], bytes]) -> BinaryIO:
    """A seekable, unbuffered stream whose every read is one ``fetch`` of exactly its bytes."""
    return DownloaderStream(ExactRanges(size, fetch))  # type: ignore[return-value]
