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


class ExactStream(DownloaderStream):
    """A seekable, unbuffered stream whose every read is one ``fetch`` of exactly its bytes.

    :meth:`get_range` reads without the stream's position, so several threads may fetch ranges of
    one open object at once (boto3 clients and google-cloud-storage blobs may be shared by threads):
    that is how a worker keeps many reads in flight without a HEAD request per read.
    """

    def __init__(self, size: int, fetch: Callable[[int, int], bytes]):
        super().__init__(ExactRanges(size, fetch))
        self.size = size

    def get_range(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the object (fewer at its end), in one request."""
        return self._downloader.get_range(start, min(end, self.size))


def open_exact(size: int, fetch: Callable[[int, int], bytes]) -> BinaryIO:
    """A seekable, unbuffered stream whose every read is one ``fetch`` of exactly its bytes."""
    return ExactStream(size, fetch)  # type: ignore[return-value]
