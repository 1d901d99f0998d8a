"""Deterministic tar and tar.gz writing: the same members give the same bytes on every run.

Every header field that normally comes from the clock or the user (mtime, uid, uname...) is fixed,
and the gzip header carries neither a timestamp nor a file name.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

MTIME = 1335830400
"""2012-05-01 00:00 UTC, stamped on every member: archive bytes must never depend on the clock."""

GZIP_LEVEL = 6
"""zlib's default: level 9 costs several times the CPU for a few percent on XML."""


def _info(name: str, size: int, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "ilsvrc"
    return info


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Append one regular file member."""
    tar.addfile(_info(name, len(data), tarfile.REGTYPE), io.BytesIO(data))


def add_dir(tar: tarfile.TarFile, name: str) -> None:
    """Append one directory member (readers must skip these, as in the real archives)."""
    tar.addfile(_info(name, 0, tarfile.DIRTYPE))


def tar_bytes(files: Iterable[tuple[str, bytes]]) -> bytes:
    """An uncompressed tar of ``(name, data)`` members in the given order, built in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files:
            add_file(tar, name, data)
    return buffer.getvalue()


@contextmanager
def write_tar(path: Path) -> Iterator[tarfile.TarFile]:
    """An uncompressed GNU tar at ``path``, as the real image archives are."""
    with open(path, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        yield tar


@contextmanager
def write_tar_gz(path: Path) -> Iterator[tarfile.TarFile]:
    """A gzip-compressed GNU tar whose gzip header has mtime 0 and no embedded name."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        yield tar
