"""Where an image's bytes lie, and the one piece of code that reads them, whatever the layout.

A locator names a file under ``--input`` and a byte range in it: a member of a tar is a range of
the tar, an extracted image is the whole of its file, a stored ZIP member is a range of the ZIP.
A deflated ZIP member is the one case that needs more than a read: its range is inflated. Every ZIP
member is checked against what it declares (sizes, CRC-32) and never inflated past it.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from typing import BinaryIO, NamedTuple

from apache_beam.io.filesystems import FileSystems

from imagenet_convert.errors import shown
from imagenet_convert.inputs.archives import (
    MAX_FILE_BYTES,
    ArchiveError,
    Member,
    open_input,
    prefetch,
    too_large,
)

ZIP_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
"""A ZIP local file header: signature, version, flags, method, time, date, crc, sizes, name/extra lengths."""
ZIP_HEADER_SLACK = 512
"""Bytes read past the header for its name and extra fields, so a member usually costs one request."""
STORED, DEFLATED = 0, 8
ENCRYPTED, DESCRIPTOR, UTF8_NAME = 0x1, 0x8, 0x800
"""Local header flags: the member is encrypted; its CRC-32 and sizes follow its data (a data descriptor);
its name is UTF-8 (else code page 437, as zipfile reads it)."""
ZIP64_EXTRA, ZIP64_SIZES = 0x0001, 0xFFFFFFFF
DESCRIPTOR_SIGNATURE, DESCRIPTOR_MAX = b"PK\x07\x08", 24


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


def _extra_field(extra: bytes, wanted: int) -> bytes | None:
    """The data of the extra field ``wanted`` of a local header's extra fields, if there is one."""
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, position)
        if kind == wanted:
            return extra[position + 4 : position + 4 + length]
        position += 4 + length
    return None


def _declared(chunk: bytes, fields: tuple, extra: bytes, data_end: int) -> tuple[int, int, int]:
    """(CRC-32, compressed size, inflated size) the member declares: in its local header, its ZIP64
    extra field, or (when the header defers them) the data descriptor after its data."""
    flags, crc, compressed, inflated = fields[2], fields[6], fields[7], fields[8]
    zip64 = _extra_field(extra, ZIP64_EXTRA)
    if flags & DESCRIPTOR:
        position = data_end + 4 * (chunk[data_end : data_end + 4] == DESCRIPTOR_SIGNATURE)
        layout = struct.Struct("<LQQ" if zip64 is not None else "<LLL")
        if len(chunk) < position + layout.size:
            raise ArchiveError("its data descriptor is cut off (truncated)")
        return layout.unpack_from(chunk, position)
    if zip64 is not None and len(zip64) >= 16 and ZIP64_SIZES in (compressed, inflated):
        inflated, compressed = struct.unpack_from("<QQ", zip64)
    return crc, compressed, inflated


def _inflate(data: bytes, declared: int) -> bytes:
    """Deflate data inflated to at most one byte more than ``declared``: a member that inflates
    further (a decompression bomb behind a small header) is refused before it takes the memory."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(data, declared + 1)  # all of data is used unless the limit is hit
    except zlib.error as exc:
        raise ArchiveError(f"damaged deflate data ({exc})") from None
    if len(inflated) > declared:
        raise ArchiveError(
            f"inflates to more than the {declared:,} bytes its header declares (damaged, or a "
            "decompression bomb)"
        )
    if not inflater.eof:
        raise ArchiveError("deflate data ends early (truncated)")
    return inflated


def _zip_member(stream: BinaryIO, locator: Locator, name: str) -> bytes:
    """A member's bytes, checked against what it declares: its name (``name``, or a path ending in it)
    and compressed size against the central directory's, its inflated size (at most
    ``MAX_FILE_BYTES``) and its CRC-32 against its own."""
    stream.seek(locator.offset)
    chunk = stream.read(ZIP_LOCAL_HEADER.size + ZIP_HEADER_SLACK + locator.size)
    if len(chunk) < ZIP_LOCAL_HEADER.size or chunk[:4] != b"PK\x03\x04":
        raise ArchiveError(f"no ZIP local header at byte {locator.offset}; the ZIP is damaged")
    fields = ZIP_LOCAL_HEADER.unpack_from(chunk)
    flags, method, name_length, extra_length = fields[2], fields[3], fields[9], fields[10]
    local = chunk[ZIP_LOCAL_HEADER.size : ZIP_LOCAL_HEADER.size + name_length]
    local_name = local.decode("utf-8" if flags & UTF8_NAME else "cp437", "replace")
    if name and local_name != name and not local_name.endswith(f"/{name}"):
        raise ArchiveError(
            f"the local header at byte {locator.offset} is {shown(local_name)}'s: the central directory "
            "and the local headers disagree; the ZIP is damaged"
        )
    if flags & ENCRYPTED:
        raise ArchiveError("encrypted (it needs a password): the converter reads unencrypted ZIPs only")
    if method not in (STORED, DEFLATED):
        raise ArchiveError(f"ZIP compression method {method} (only stored and deflated are read)")
    start = ZIP_LOCAL_HEADER.size + name_length + extra_length
    data_end = start + locator.size
    wanted = data_end + DESCRIPTOR_MAX * bool(flags & DESCRIPTOR)
    if len(chunk) < wanted:  # extra fields longer than the slack, or the ZIP ends early
        stream.seek(locator.offset + len(chunk))
        chunk += stream.read(wanted - len(chunk))
    if len(chunk) < data_end:
        raise ArchiveError(f"read {len(chunk) - start} of {locator.size} bytes (truncated)")
    crc, compressed, inflated = _declared(chunk, fields, chunk[start - extra_length : start], data_end)
    if compressed != locator.size:
        raise ArchiveError(
            f"its local header says {compressed:,} compressed bytes, the central directory "
            f"{locator.size:,}: the ZIP is damaged"
        )
    if inflated > MAX_FILE_BYTES:
        raise ArchiveError(f"declares {too_large(inflated)}")
    data = chunk[start:data_end]
    content = data if method == STORED else _inflate(data, inflated)
    if len(content) != inflated:
        raise ArchiveError(f"holds {len(content):,} bytes where its header declares {inflated:,}: damaged")
    if zlib.crc32(content) != crc:
        raise ArchiveError("its bytes do not match their CRC-32: damaged in the download or since")
    return content


def read(stream: BinaryIO, locator: Locator, name: str = "") -> bytes:
    """The bytes a locator points at, from an open stream of its file (errors say what, not where);
    ``name``: the file name a ZIP member's local header must end in."""
    if locator.size > MAX_FILE_BYTES:
        raise ArchiveError(too_large(locator.size))
    if locator.zipped:
        return _zip_member(stream, locator, name)
    return _read_exact(stream, locator.offset, locator.size)


def read_file(root: str, locator: Locator, what: str, name: str = "") -> bytes:
    """Open the locator's file, read it, close it: for the small files planning reads."""
    try:
        with open_input(FileSystems.join(root, locator.path)) as stream:
            return read(stream, locator, name)
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

    def read(self, locator: Locator, name: str = "") -> bytes:
        """The image at ``locator``, called ``name`` (see :func:`read`)."""
        stream = self._open.get(locator.path)
        if stream is not None:
            return read(stream, locator, name)
        with open_input(FileSystems.join(self._root, locator.path)) as own:
            return read(own, locator, name)
