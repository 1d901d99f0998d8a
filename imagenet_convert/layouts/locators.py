"""Where an image's bytes lie, and the one piece of code that reads them, whatever the layout.

A locator names a file under ``--input`` and a byte range in it: a member of a tar is a range of
the tar, an extracted image is the whole of its file, a stored ZIP member is a range of the ZIP.
A deflated ZIP member is the one case that needs more than a read: its range is inflated.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from typing import BinaryIO, NamedTuple

from apache_beam.io.filesystems import FileSystems

from imagenet_convert.archives import ArchiveError, Member, open_input, prefetch

ZIP_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
"""A ZIP local file header: signature, version, flags, method, time, date, crc, sizes, name/extra lengths."""
ZIP_HEADER_SLACK = 512
"""Bytes read past the header for its name and extra fields, so a member usually costs one request."""
STORED, DEFLATED = 0, 8


class Locator(NamedTuple):
    """``size`` bytes at ``offset`` of ``path`` (relative to --input, '/'-separated).

    ``zipped``: ``offset`` is a ZIP member's local header and ``size`` its compressed size; the
    central directory does not say where the data starts, the local header does.
    """

    path: str
    offset: int
    size: int
    zipped: bool = False


def _read_exact(stream: BinaryIO, offset: int, size: int) -> bytes:
    stream.seek(offset)
    data = stream.read(size)
    if len(data) != size:
        raise ArchiveError(f"read {len(data)} of {size} bytes (truncated)")
    return data


def _zip_member(stream: BinaryIO, locator: Locator) -> bytes:
    stream.seek(locator.offset)
    chunk = stream.read(ZIP_LOCAL_HEADER.size + ZIP_HEADER_SLACK + locator.size)
    if len(chunk) < ZIP_LOCAL_HEADER.size or chunk[:4] != b"PK\x03\x04":
        raise ArchiveError(f"no ZIP local header at byte {locator.offset}; the ZIP is damaged")
    fields = ZIP_LOCAL_HEADER.unpack_from(chunk)
    method, name_length, extra_length = fields[3], fields[9], fields[10]
    start = ZIP_LOCAL_HEADER.size + name_length + extra_length
    data = chunk[start : start + locator.size]
    if len(data) < locator.size:  # extra fields longer than the slack, or the ZIP ends early
        data += _read_exact(stream, locator.offset + start + len(data), locator.size - len(data))
    if method == STORED:
        return data
    if method != DEFLATED:
        raise ArchiveError(f"ZIP compression method {method} (only stored and deflated are read)")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(data)
    except zlib.error as exc:
        raise ArchiveError(f"damaged deflate data ({exc})") from None
    if not inflater.eof:
        raise ArchiveError("deflate data ends early (truncated)")
    return inflated


def read(stream: BinaryIO, locator: Locator) -> bytes:
    """The bytes a locator points at, from an open stream of its file (errors say what, not where)."""
    if locator.zipped:
        return _zip_member(stream, locator)
    return _read_exact(stream, locator.offset, locator.size)


def read_file(root: str, locator: Locator, what: str) -> bytes:
    """Open the locator's file, read it, close it: for the small files planning reads."""
    try:
        with open_input(FileSystems.join(root, locator.path)) as stream:
            return read(stream, locator)
    except (ArchiveError, OSError) as exc:
        raise ArchiveError(f"{what}: {exc}") from None


class Reader:
    """Reads a shard's locators: files several images share (archives) are opened once and their
    ranges prefetched; a file holding one image (an extracted JPEG) is opened for its read only."""

    def __init__(self, root: str, locators: Iterable[Locator]):
        locators = list(locators)
        self._root = root
        uses = Counter(locator.path for locator in locators)
        self._open: dict[str, BinaryIO] = {}
        with ExitStack() as stack:
            for path in sorted(p for p, count in uses.items() if count > 1):
                self._open[path] = stack.enter_context(open_input(FileSystems.join(root, path)))
            self._stack = stack.pop_all()
        slack = ZIP_LOCAL_HEADER.size + ZIP_HEADER_SLACK
        in_order = sorted(locators, key=lambda loc: loc.offset)  # the disk's order, not the shard's
        for path, stream in self._open.items():
            prefetch(
                stream,
                [
                    Member(path, loc.offset, loc.size + slack * loc.zipped)
                    for loc in in_order
                    if loc.path == path
                ],
            )

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def read(self, locator: Locator) -> bytes:
        stream = self._open.get(locator.path)
        if stream is not None:
            return read(stream, locator)
        with open_input(FileSystems.join(self._root, locator.path)) as own:
            return read(own, locator)
