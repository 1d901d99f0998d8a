"""Index tar archives in place and read members by byte range: nothing is ever extracted.

The train download is a tar of per-class tars. Only headers are read (512 bytes per member);
each image is later read as the exact byte range its header points at, through Beam's
``FileSystems`` so local paths, ``gs://`` and ``s3://`` all work.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import tarfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, NamedTuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from imagenet_convert.errors import Failed
from imagenet_convert.inputs.ordered import in_order
from imagenet_convert.storage import gcs, s3

WNID = re.compile(r"n\d{8}")
BLOCK = 512
RANGED = {"s3": s3.open_ranged, "gs": gcs.open_ranged}
"""Object stores whose archives are read by exact ranged requests (Beam's readers fetch far ahead)."""
MAX_FILE_BYTES = 64 << 20
"""The most bytes held of one image, archive member or small file (a CSV, an XML file): ILSVRC2012's
images average 110 KB and its text files are a few MB, so a larger one is damage, or a decompression
bomb that would take a worker's memory."""


def too_large(size: int | None = None) -> str:
    """The problem of a file or member over ``MAX_FILE_BYTES`` (its size, where known)."""
    return (
        f"{f'{size:,} bytes, ' if size else ''}more than the {MAX_FILE_BYTES >> 20} MiB that no "
        "ILSVRC2012 file read whole comes near (damaged, or not what its name says)"
    )


class ArchiveError(Failed):
    """A problem with an input archive; the message names the archive, member and what to do."""


class LayoutError(ArchiveError):
    """The input cannot be read as the layout it was detected (or forced) as."""


class Member(NamedTuple):
    """A regular file inside an archive: its name and where its bytes lie in the outer file."""

    name: str
    offset: int
    size: int


def open_input(path: str, ranged: bool = True) -> BinaryIO:
    """Open an input file, never decompressing it on the way.

    ``ranged`` streams fetch exactly the bytes each read asks for: on S3 and GCS, Beam's readers
    would otherwise fetch megabytes beyond each seek (see :mod:`imagenet_convert.storage.ranged`).
    """
    try:
        scheme = FileSystems.get_filesystem(path).scheme()
        if ranged and scheme in RANGED:
            return RANGED[scheme](path, FileSystems._pipeline_options)  # the options FileSystems was given
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception as exc:  # FileSystems raises BeamIOError, IOError, ... by scheme
        raise ArchiveError(f"{path}: cannot open ({exc})") from None


class _Window(io.RawIOBase):
    """A read-only view of ``[start, start + length)`` of a seekable stream."""

    def __init__(self, stream: BinaryIO, start: int, length: int):
        self._stream, self._start, self._length, self._pos = stream, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:  # type: ignore[override]
        count = max(0, min(len(buffer), self._length - self._pos))
        if not count:
            return 0
        self._stream.seek(self._start + self._pos)
        data = self._stream.read(count)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _plain_name(archive: str, name: str) -> str:
    """Member names are data, never paths: accept flat file names only."""
    plain = name[2:] if name.startswith("./") else name
    if not plain or "/" in plain or "\\" in plain or plain in (".", ".."):
        raise ArchiveError(
            f"{archive}: member {name!r} is not a plain file name (expected flat names like the "
            "official download); the archive is not an ILSVRC2012 download or was repacked"
        )
    return plain


def _stream_size(stream: BinaryIO) -> int:
    here = stream.tell()
    size = stream.seek(0, io.SEEK_END)
    stream.seek(here)
    return size


class _Unusual(Exception):
    """A header the fast reader leaves to ``tarfile`` (pax, GNU long names, links, damage...)."""


def _read_at(stream: BinaryIO, offset: int, size: int) -> bytes:
    """One ``pread`` where the stream has a file descriptor (no seek, no read-ahead buffer)."""
    try:
        return os.pread(stream.fileno(), size, offset)
    except (AttributeError, OSError, io.UnsupportedOperation):
        stream.seek(offset)
        return stream.read(size)


_ENCODING = sys.getfilesystemencoding()  # tarfile's default for names, with surrogateescape


def _header(header: bytes) -> tuple[str, int, bool]:
    """(name, data size, is a folder) of a plain ustar/GNU header, or :class:`_Unusual`."""
    kind, size_field = header[156:157], header[124:136]
    if (
        kind not in b"05\0"
        or size_field[0] & 0x80  # base-256 sizes
        or header.count(0, 345, 500) != 155  # a ustar prefix (or GNU's extra times)
        or _octal(header[148:156]) != _checksum(header)
    ):
        raise _Unusual
    name = header[:100].split(b"\0", 1)[0].decode(_ENCODING, "surrogateescape")
    if kind == b"5" or (kind == b"\0" and name.endswith("/")):  # folders, as tarfile tells them
        return name, 0, True
    return name, _octal(size_field), False


def _checksum(header: bytes) -> int:
    """The header's unsigned byte sum with its checksum field as spaces, as tar defines it.

    Summing 512 bytes in Python costs more than the rest of a header's reading; Adler-32 is that
    sum modulo 65521, exact whenever half the header or more is zeros (a sum of at most 256 nonzero
    bytes stays below 65521), which a plain header's unused fields always make it.
    """
    blanked = header[:148] + b" " * 8 + header[156:]
    if blanked.count(0) >= 256:
        return (zlib.adler32(blanked) & 0xFFFF) - 1
    return sum(blanked)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _plain_headers(stream: BinaryIO, archive: str, start: int, length: int) -> list[Member]:
    """The members of a tar of plain ustar/GNU headers (regular files, folders), one read each.

    ``tarfile`` costs ~30 us per member; the 1.28 M headers of the train download are a minute of
    planning that way. Anything this does not handle raises :class:`_Unusual`, and the caller reads
    the archive with ``tarfile`` instead: the same members, or the same errors.
    """
    members: list[Member] = []
    position = 0
    while True:
        header = _read_at(stream, start + position, BLOCK) if position + BLOCK <= length else b""
        if len(header) < BLOCK:
            raise _Unusual  # ends early: tarfile's reading gives the error
        if not any(header):
            return members  # the end-of-archive block
        name, size, folder = _header(header)
        if not folder:
            if position + BLOCK + size > length:
                raise _Unusual  # truncated: tarfile's reading gives the error
            members.append(Member(_plain_name(archive, name), start + position + BLOCK, size))
        position += BLOCK + _padded(size)


def _octal(field: bytes) -> int:
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        raise _Unusual from None


def index_tar(stream: BinaryIO, archive: str, start: int = 0, length: int | None = None) -> list[Member]:
    """List the regular files of the tar at ``[start, start + length)`` of ``stream``.

    Offsets are absolute in ``stream``. A truncated or corrupt tar raises :class:`ArchiveError`
    instead of silently yielding fewer members, as ``tarfile`` would.
    """
    length = _stream_size(stream) - start if length is None else length
    try:
        return _plain_headers(stream, archive, start, length)
    except _Unusual:
        return _index_with_tarfile(stream, archive, start, length)


def _index_with_tarfile(stream: BinaryIO, archive: str, start: int, length: int) -> list[Member]:
    """``index_tar`` for any tar ``tarfile`` reads, with the errors of a damaged one."""
    window = _Window(stream, start, length)
    redownload = "re-download it (compare its size and md5 with `verify --check-archives`)"
    try:
        tar = tarfile.open(fileobj=window, mode="r:")  # noqa: SIM115 (closed by the `with tar` below)
    except tarfile.TarError as exc:
        raise ArchiveError(f"{archive}: not a readable tar ({exc}); {redownload}") from None
    members: list[Member] = []
    with tar:
        try:
            for info in tar:
                if info.isdir():
                    continue
                if not info.isreg():
                    raise ArchiveError(f"{archive}: member {info.name!r} is a link or device, not a file")
                if info.offset_data + info.size > length:
                    raise ArchiveError(
                        f"{archive}: member {info.name!r} claims {info.size} bytes but the archive ends "
                        f"{length - info.offset_data} bytes after its header: truncated; {redownload}"
                    )
                members.append(Member(_plain_name(archive, info.name), start + info.offset_data, info.size))
        except tarfile.TarError as exc:  # e.g. cut in the padding after a member, or after a pax header
            after = f"after member {members[-1].name!r} " if members else ""
            raise ArchiveError(f"{archive}: truncated or damaged {after}({exc}); {redownload}") from None
        window.seek(tar.offset)
        end = window.read(512)
    if len(end) < 512 or any(end):
        problem = "ends without an end-of-archive block" if len(end) < 512 else "has a corrupt header"
        raise ArchiveError(
            f"{archive}: tar {problem} at byte {start + tar.offset}: truncated or damaged; {redownload}"
        )
    return members


def prefetch(stream: BinaryIO, members: list[Member]) -> None:
    """Ask the kernel to start reading these byte ranges now (local files only).

    A shard's images lie scattered over the archive; on a cold disk, one 110 KB read at a time
    leaves the disk idle between requests, while a queue of them lets it reorder and overlap.
    """
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return  # object stores: every read is its own ranged request anyway
    for member in members:
        os.posix_fadvise(descriptor, member.offset, member.size, os.POSIX_FADV_WILLNEED)


def read_member(stream: BinaryIO, member: Member) -> bytes:
    """The exact bytes of one member: one seek, one read."""
    stream.seek(member.offset)
    data = stream.read(member.size)
    if len(data) != member.size:
        raise ArchiveError(f"member {member.name!r}: read {len(data)} of {member.size} bytes (truncated)")
    return data


def _class_wnid(archive: str, class_tar: Member) -> str:
    wnid = class_tar.name.removesuffix(".tar")
    if not class_tar.name.endswith(".tar") or not WNID.fullmatch(wnid):
        raise ArchiveError(
            f"{archive}: member {class_tar.name!r} is not a class tar '<wnid>.tar' like n01440764.tar"
        )
    return wnid


def index_train(
    path: str, archive: str, on_class: Callable[[str, int, int], None] | None = None, threads: int = 1
) -> Iterator[tuple[str, list[Member]]]:
    """Index the train tar of class tars: (wnid, members with offsets in the outer file) per class.

    Classes are yielded as they are indexed, at most ``2 * threads`` ahead of the caller, so the
    caller can keep them in a compact form: 1.28 M members held as objects take ~250 MB.
    ``on_class(wnid, members, classes)`` reports progress. On object storage every header is a
    request, so ``threads`` index several class tars at once, each with its own stream.
    """
    with open_input(path) as stream:
        outer = index_tar(stream, archive)
    wnids = [_class_wnid(archive, class_tar) for class_tar in outer]

    def index_class(class_tar: Member) -> list[Member]:
        with open_input(path) as own:
            return index_tar(own, f"{archive}/{class_tar.name}", class_tar.offset, class_tar.size)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        for wnid, members in zip(wnids, in_order(pool, index_class, outer, 2 * threads), strict=True):
            if on_class:
                on_class(wnid, len(members), len(outer))
            yield wnid, members


def iter_small_members(path: str, archive: str) -> Iterator[tuple[str, bytes]]:
    """(full name, bytes) of each regular member of a (possibly gzipped) tar, streamed: for devkit and XML.

    A gzipped tar is read to the end of its gzip stream: ``tarfile`` alone silently stops at a
    header cut short, so a truncated download would lose members without an error. Members are
    not kept: the train box archive holds half a million XML files. Plain headers are read by hand
    (``tarfile`` costs more per XML file than the XML parse); at the first other one the archive
    is read again with ``tarfile``, past the members already given.
    """
    given = 0
    try:
        for item in _stream_members(path, archive, _plain_stream):
            yield item
            given += 1
        return
    except _Unusual:
        pass
    for index, item in enumerate(_stream_members(path, archive, _tarfile_stream)):
        if index >= given:
            yield item


def _stream_members(
    path: str, archive: str, members: Callable[[BinaryIO], Iterator[tuple[str, bytes]]]
) -> Iterator[tuple[str, bytes]]:
    try:
        with open_input(path, ranged=False) as stream:
            gzipped = stream.read(2) == b"\x1f\x8b"
            stream.seek(0)
            source = gzip.GzipFile(fileobj=stream, mode="rb") if gzipped else stream
            yield from members(source)
            while gzipped and source.read(1 << 20):  # raises EOFError if the gzip stream is cut short
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ArchiveError(f"{archive}: cannot read ({exc}); re-download it") from None
    except _TooLarge as exc:
        raise ArchiveError(f"{archive}: member {exc.args[0]!r}: {too_large(exc.args[1])}") from None


class _TooLarge(Exception):
    """(name, size) of a member of a small-file archive over ``MAX_FILE_BYTES``: never read."""


def _small(name: str, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise _TooLarge(name, size)


def _plain_stream(source: BinaryIO) -> Iterator[tuple[str, bytes]]:
    while True:
        header = source.read(BLOCK)
        if len(header) < BLOCK:
            raise _Unusual  # cut short: tarfile's reading gives the error
        if not any(header):
            return
        name, size, folder = _header(header)
        _small(name, size)
        data = source.read(_padded(size))
        if len(data) < size:
            raise _Unusual
        if not folder:
            yield name, data[:size]


def _tarfile_stream(source: BinaryIO) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(fileobj=source, mode="r|*") as tar:
        for info in tar:
            if info.isreg():
                _small(info.name, info.size)
                handle = tar.extractfile(info)
                yield info.name, handle.read() if handle else b""
            tar.members.clear()  # tarfile would otherwise remember every header
