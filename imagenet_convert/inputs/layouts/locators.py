"""Where an image's bytes lie, and the one piece of code that reads them, whatever the layout.

A locator names a file under ``--input`` and a byte range in it: a member of a tar is a range of
the tar, an extracted image is the whole of its file, a stored ZIP member is a range of the ZIP.
A deflated ZIP member is the one case that needs more than a read: its range is inflated. Every ZIP
member is checked against what it declares (sizes, CRC-32) and never inflated past it.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
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
from imagenet_convert.storage.paths import is_local
from imagenet_convert.storage.ranged import ExactStream

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


@dataclass(frozen=True)
class ReadAhead:
    """How a worker reads a shard's images from an object store (``--reads_in_flight``,
    ``--read_window_bytes``): ``in_flight`` ranged requests at once, at most ``window_bytes`` fetched
    and not yet used, ranges of one object ``merge_gap`` bytes apart or closer fetched as one.

    ``in_flight`` is 10 by default: boto3's and google-cloud-storage's clients keep 10 connections per
    host; more threads than that would open a connection (a TLS handshake on a cloud store) for a
    request and drop it after."""

    in_flight: int = 10
    window_bytes: int = 64 << 20
    merge_gap: int = 64 << 10


class _Fetched(io.RawIOBase):
    """One object as a read-only stream answered from ``data``, its bytes from ``start`` (to its end
    where ``start + len(data)`` reaches ``size``); any other read goes to ``elsewhere()``, a stream of
    the object: a ZIP member's extra fields longer than the slack read ahead for them."""

    def __init__(self, data: bytes, start: int, size: int, elsewhere: Callable[[], BinaryIO]):
        self._data, self._start, self._size, self._elsewhere = memoryview(data), start, size, elsewhere
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position += offset
        return self._position

    def readinto(self, buffer) -> int:  # type: ignore[override]
        start, end = self._position - self._start, self._start + len(self._data)
        if start >= 0 and (self._position + len(buffer) <= end or end >= self._size):
            chunk: bytes | memoryview = self._data[start : start + len(buffer)]
        else:
            stream = self._elsewhere()
            stream.seek(self._position)
            chunk = stream.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)


class _Request(NamedTuple):
    """One ranged request ahead of use: ``[start, end)`` of ``path``, for ``uses`` locators."""

    path: str
    start: int
    end: int
    future: Future
    uses: list[int]


def _needed(locator: Locator) -> tuple[int, int]:
    """The byte range :func:`read` reads for ``locator`` in its first (usually only) read."""
    slack = ZIP_LOCAL_HEADER.size + ZIP_HEADER_SLACK
    return locator.offset, locator.offset + locator.size + slack * locator.zipped


class _ReadsAhead:
    """A shard's image ranges fetched ahead of their use on an object store, by a thread pool over
    the exact ranged reads (:mod:`imagenet_convert.storage.ranged`): a request costs tens of
    milliseconds of latency and little else, so ``in_flight`` of them at once do the work of as many
    workers, and neighbouring ranges of one archive become one request.

    Written by hand (a few dozen lines) because neither boto3's transfer manager nor
    google-cloud-storage's transfer helpers fetch many small ranges of one object into memory: they
    download whole objects or fixed-size chunks of them to files.

    Order and bytes: the images are handed over in the plan's order, each as :func:`read` reads it
    from a stream answered by the fetched bytes; a request that failed is not trusted, the image is
    read again as without read-ahead, so its error (naming its archive and member) is today's.

    Memory: images are taken in the plan's order into batches of at most ``window_bytes`` (gaps
    included) less what is still held, and a request's bytes are held until its last image is used;
    a batch is merged within itself only, so at most ``max(window_bytes, one image's range)`` bytes
    are fetched and not yet used, plus the ``in_flight`` responses being received.
    """

    def __init__(
        self,
        locators: list[Locator],
        fetchers: dict[str, Callable[[int, int], tuple[bytes, int]]],
        settings: ReadAhead,
    ):
        self._locators, self._fetchers, self._settings = locators, fetchers, settings
        self._pool = ThreadPoolExecutor(max(1, settings.in_flight), thread_name_prefix="read-ahead")
        self._unscheduled = deque(  # a damaged size is refused by read(), never fetched
            i for i, loc in enumerate(locators) if loc.path in fetchers and loc.size <= MAX_FILE_BYTES
        )
        self._requests: dict[int, _Request] = {}
        self._held = 0
        self.stats: Counter = Counter()
        self._schedule()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._requests.clear()

    def _schedule(self) -> None:
        """Submit the next batch of images that fits the window (at least one when nothing is held)."""
        window, budget = self._settings.window_bytes, self._settings.window_bytes - self._held
        batch: list[int] = []
        while self._unscheduled:
            start, end = _needed(self._locators[self._unscheduled[0]])
            if end - start > budget and (batch or self._held):
                break
            batch.append(self._unscheduled.popleft())
            budget -= end - start
        ranges = sorted((self._locators[i].path, *_needed(self._locators[i]), i) for i in batch)
        merged: list[tuple[str, int, int, list[int]]] = []
        for path, start, end, i in ranges:
            last = merged[-1] if merged else None
            gap = start - last[2] if last and last[0] == path else window
            if last and gap <= min(self._settings.merge_gap, budget):
                budget -= max(gap, 0)
                self.stats["gap_bytes"] += max(gap, 0)
                merged[-1] = (path, last[1], max(last[2], end), [*last[3], i])
            else:
                merged.append((path, start, end, [i]))
        for path, start, end, uses in sorted(merged, key=lambda request: min(request[3])):  # in need order
            request = _Request(path, start, end, self._pool.submit(self._fetchers[path], start, end), uses)
            self._held += end - start
            self.stats["ranged_reads"] += 1
            for i in uses:
                self._requests[i] = request

    def take(self, index: int) -> tuple[bytes, int, int] | None:
        """(bytes, their offset, the object's size) fetched for locator ``index``, or None where it
        was not read ahead or its request failed."""
        request = self._requests.pop(index, None)
        if request is None:
            return None
        try:
            data, size = request.future.result()
            return data, request.start, size
        except Exception:
            return None
        finally:
            request.uses.remove(index)
            if not request.uses:
                self._held -= request.end - request.start
            self._schedule()


def _fetch_own(root: str, path: str) -> Callable[[int, int], tuple[bytes, int]]:
    """A range of a file read by nobody else (an extracted image), opened in the fetching thread."""

    def fetch(start: int, end: int) -> tuple[bytes, int]:
        with open_input(FileSystems.join(root, path)) as stream:
            size = stream.seek(0, io.SEEK_END)
            stream.seek(start)
            return stream.read(end - start), size

    return fetch


def _fetch_shared(stream: ExactStream) -> Callable[[int, int], tuple[bytes, int]]:
    return lambda start, end: (stream.get_range(start, end), stream.size)


class Reader:
    """Reads a shard's locators: files several images share (archives) are opened once and their
    ranges prefetched; a file holding one image (an extracted JPEG) is opened for its read only.

    On a local disk the kernel prefetches (fadvise); on an object store the ranges are fetched ahead
    by :class:`_ReadsAhead`, when they are read in the order given here (the plan's).
    """

    def __init__(self, root: str, locators: Iterable[Locator], read_ahead: ReadAhead | None = None):
        locators = list(locators)
        self._locators, self._next = locators, 0
        self._ahead: _ReadsAhead | None = None
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
        if not is_local(root):
            fetchers = {p: _fetch_own(root, p) for p, count in uses.items() if count == 1}
            fetchers.update(
                {p: _fetch_shared(s) for p, s in self._open.items() if isinstance(s, ExactStream)}
            )
            self._ahead = _ReadsAhead(locators, fetchers, read_ahead or ReadAhead())

    @property
    def stats(self) -> dict[str, int]:
        """Requests made ahead of use (``ranged_reads``) and bytes read between images (``gap_bytes``)."""
        return dict(self._ahead.stats) if self._ahead else {}

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ahead:
            self._ahead.close()
        self._stack.close()

    def read(self, locator: Locator, name: str = "") -> bytes:
        """The image at ``locator``, called ``name`` (see :func:`read`)."""
        if self._ahead and self._next < len(self._locators) and self._locators[self._next] == locator:
            self._next += 1
            fetched = self._ahead.take(self._next - 1)
            if fetched is not None:
                data, start, size = fetched
                return read(_Fetched(data, start, size, lambda: self._direct(locator.path)), locator, name)
        return self._direct_read(locator, name)

    def _direct(self, path: str) -> BinaryIO:
        """A stream of ``path``: the one opened for the shard, or one of its own closed with the reader."""
        if path not in self._open:
            self._open[path] = self._stack.enter_context(open_input(FileSystems.join(self._root, path)))
        return self._open[path]

    def _direct_read(self, locator: Locator, name: str) -> bytes:
        stream = self._open.get(locator.path)
        if stream is not None:
            return read(stream, locator, name)
        with open_input(FileSystems.join(self._root, locator.path)) as own:
            return read(own, locator, name)
