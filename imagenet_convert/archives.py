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
import tarfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, NamedTuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from imagenet_convert import gcs, s3  # also fix Beam's GCS and S3 clients (see each module)

WNID = re.compile(r"n\d{8}")
RANGED = {"s3": s3.open_ranged, "gs": gcs.open_ranged}
"""Object stores whose archives are read by exact ranged requests (Beam's readers fetch far ahead)."""


class ArchiveError(Exception):
    """A problem with an input archive; the message names the archive, member and what to do."""


class Member(NamedTuple):
    """A regular file inside an archive: its name and where its bytes lie in the outer file."""

    name: str
    offset: int
    size: int


def open_input(path: str, ranged: bool = True) -> BinaryIO:
    """Open an input file, never decompressing it on the way.

    ``ranged`` streams fetch exactly the bytes each read asks for: on S3 and GCS, Beam's readers
    would otherwise fetch megabytes beyond each seek (see :mod:`imagenet_convert.ranged`).
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


def index_tar(stream: BinaryIO, archive: str, start: int = 0, length: int | None = None) -> list[Member]:
    """List the regular files of the tar at ``[start, start + length)`` of ``stream``.

    Offsets are absolute in ``stream``. A truncated or corrupt tar raises :class:`ArchiveError`
    instead of silently yielding fewer members, as ``tarfile`` would.
    """
    length = _stream_size(stream) - start if length is None else length
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
) -> dict[str, list[Member]]:
    """Index the train tar of class tars: {wnid: members with offsets in the outer file}.

    ``on_class(wnid, members, classes)`` reports progress. On object storage every header is a
    request, so ``threads`` index several class tars at once, each with its own stream.
    """
    with open_input(path) as stream:
        outer = index_tar(stream, archive)
    wnids = [_class_wnid(archive, class_tar) for class_tar in outer]

    def index_class(class_tar: Member) -> list[Member]:
        with open_input(path) as own:
            return index_tar(own, f"{archive}/{class_tar.name}", class_tar.offset, class_tar.size)

    classes: dict[str, list[Member]] = {}
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for wnid, members in zip(wnids, pool.map(index_class, outer), strict=True):
            classes[wnid] = members
            if on_class:
                on_class(wnid, len(members), len(outer))
    return classes


def iter_small_members(path: str, archive: str) -> Iterator[tuple[str, bytes]]:
    """(full name, bytes) of each regular member of a (possibly gzipped) tar, streamed: for devkit and XML.

    A gzipped tar is read to the end of its gzip stream: ``tarfile`` alone silently stops at a
    header cut short, so a truncated download would lose members without an error. Members are
    not kept: the train box archive holds half a million XML files.
    """
    try:
        with open_input(path, ranged=False) as stream:
            gzipped = stream.read(2) == b"\x1f\x8b"
            stream.seek(0)
            source = gzip.GzipFile(fileobj=stream, mode="rb") if gzipped else stream
            with tarfile.open(fileobj=source, mode="r|*") as tar:
                for info in tar:
                    if info.isreg():
                        handle = tar.extractfile(info)
                        yield info.name, handle.read() if handle else b""
                    tar.members.clear()  # tarfile would otherwise remember every header
            while gzipped and source.read(1 << 20):  # raises EOFError if the gzip stream is cut short
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ArchiveError(f"{archive}: cannot read ({exc}); re-download it") from None
