"""Copies of a generated download with one archive damaged in a chosen way.

Unchanged files are hard-linked, or symbolically linked by ``link_tree`` (the shared session fixture
is never written); a damaged archive is written as a new file under the copy. ZIPs are written again
by hand (``write_zip``), so that their members can declare, hold and flag what no ZIP writer would.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

Entry = tuple[tarfile.TarInfo, bytes]
Edit = Callable[[list[Entry]], list[Entry]]

TRAIN = "ILSVRC2012_img_train.tar"
VAL = "ILSVRC2012_img_val.tar"
DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"
TRAIN_BOXES = "ILSVRC2012_bbox_train_v2.tar.gz"


def clone(source: Path, target: Path) -> Path:
    """A copy of a download folder made of hard links."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        os.link(path, target / path.name)
    return target


def clone_tree(source: Path, target: Path) -> Path:
    """A copy of a download tree (folders and all) made of hard links: edit it with :func:`rewrite`."""
    shutil.copytree(source, target, symlinks=True, copy_function=os.link)
    return target


def link_tree(source: Path, target: Path) -> Path:
    """A folder of real subfolders whose files are symbolic links to ``source``'s: cheap to edit."""
    for path in sorted(source.rglob("*")):
        copy = target / path.relative_to(source)
        if path.is_dir():
            copy.mkdir(parents=True, exist_ok=True)
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.symlink_to(path)
    return target


def rewrite(path: Path, data: bytes) -> None:
    """New bytes under ``path`` of a clone, never written through the hard link to the original."""
    path.unlink()
    path.write_bytes(data)


def tree_state(folder: Path) -> dict[bytes, tuple[int, int, int]]:
    """(mode, size, modification time) of every entry under ``folder`` by its path's bytes, links not
    followed: equal before and after a run when the run wrote nothing there (nor through a hard link)."""
    state = {}
    for top, folders, files in os.walk(os.fsencode(folder)):
        for name in folders + files:
            info = os.lstat(os.path.join(top, name))
            state[os.path.relpath(os.path.join(top, name), os.fsencode(folder))] = (
                info.st_mode,
                info.st_size,
                info.st_mtime_ns,
            )
    return state


def read_entries(data: bytes) -> list[Entry]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(info, tar.extractfile(info).read() if info.isfile() else b"") for info in tar]


def pack(entries: list[Entry], gzipped: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzipped else "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in entries:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def replace(folder: Path, name: str, data: bytes) -> None:
    """Put new bytes under ``name`` without touching the hard-linked original."""
    rewrite(folder / name, data)


def edit_archive(folder: Path, name: str, edit: Edit) -> None:
    data = (folder / name).read_bytes()
    replace(folder, name, pack(edit(read_entries(data)), gzipped=name.endswith("gz")))


def edit_first_class(folder: Path, edit: Edit) -> str:
    """Apply ``edit`` to the first class tar inside the train tar; returns that class tar's name."""
    outer = read_entries((folder / TRAIN).read_bytes())
    info, data = outer[0]
    outer[0] = (info, pack(edit(read_entries(data))))
    replace(folder, TRAIN, pack(outer))
    return info.name


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def set_data(index: int, data: bytes) -> Edit:
    """An edit that replaces the data of the ``index``-th regular member."""

    def edit(entries: list[Entry]) -> list[Entry]:
        files = [i for i, (info, _) in enumerate(entries) if info.isfile()]
        info, _ = entries[files[index]]
        entries[files[index]] = (info, data)
        return entries

    return edit


def add_entry(info: tarfile.TarInfo, data: bytes = b"") -> Edit:
    return lambda entries: [*entries, (info, data)]


def truncate(folder: Path, name: str, keep: float | int) -> None:
    """Cut an archive to ``keep`` bytes (an int) or that fraction of its size."""
    data = (folder / name).read_bytes()
    replace(folder, name, data[: keep if isinstance(keep, int) else int(len(data) * keep)])


class ZipEntry(NamedTuple):
    """A ZIP member as written by :func:`write_zip`: ``raw`` is what the archive holds (deflated when
    ``method`` is 8), ``crc`` and ``size`` what both headers declare; ``local_size`` overrides the
    local header's inflated size, ``flags`` its flags (8: CRC and sizes in a data descriptor after
    the data)."""

    name: str
    raw: bytes
    method: int
    crc: int
    size: int
    flags: int = 0
    local_size: int | None = None


def zip_entries(path: Path) -> list[ZipEntry]:
    """The members of a ZIP, to be written again (damaged) by :func:`write_zip`."""
    entries = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            deflated = info.compress_type == zipfile.ZIP_DEFLATED
            raw = deflate(data) if deflated else data
            entries.append(ZipEntry(info.filename, raw, info.compress_type, zlib.crc32(data), len(data)))
    return entries


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def zeros_deflated(megabytes: int) -> bytes:
    """Raw deflate data that inflates to ``megabytes`` MiB of zeros, made in milliseconds: one
    independently decodable (fully flushed) segment repeated, then an empty final block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return segment * megabytes + zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()


def write_zip(path: Path, entries: list[ZipEntry]) -> None:
    """A ZIP64 archive of ``entries`` exactly as they say (sizes past 4 GB may be declared)."""
    unknown, body, directory = 0xFFFFFFFF, bytearray(), bytearray()
    for entry in entries:
        name = entry.name.encode("utf-8", "surrogateescape")
        deferred = entry.flags & 8
        local_size = entry.size if entry.local_size is None else entry.local_size
        sizes = (0, 0) if deferred else (local_size, len(entry.raw))
        local_extra = struct.pack("<HHQQ", 1, 16, *sizes)
        crc = 0 if deferred else entry.crc
        flags = entry.flags | 0x800  # UTF-8 names
        fixed = (entry.method, 0, 0x21, crc, unknown, unknown, len(name), len(local_extra))
        header = struct.pack("<4s5H3L2H", b"PK\3\4", 45, flags, *fixed)
        offset = len(body)
        body += header + name + local_extra + entry.raw
        if deferred:
            body += struct.pack("<4sLQQ", b"PK\7\10", entry.crc, len(entry.raw), local_size)
        extra = struct.pack("<HHQQQ", 1, 24, entry.size, len(entry.raw), offset)
        fixed = (entry.method, 0, 0x21, entry.crc, unknown, unknown, len(name), len(extra), 0, 0, 0)
        directory += struct.pack("<4s6H3L5H2L", b"PK\1\2", 45, 45, flags, *fixed, 0, unknown)
        directory += name + extra
    start, count = len(body), len(entries)
    end64 = struct.pack("<4sQ2H2L4Q", b"PK\6\6", 44, 45, 45, 0, 0, count, count, len(directory), start)
    locator = struct.pack("<4sLQL", b"PK\6\7", 0, start + len(directory), 1)
    end = struct.pack("<4s4H2LH", b"PK\5\6", 0, 0, 0xFFFF, 0xFFFF, unknown, unknown, 0)
    path.write_bytes(bytes(body + directory + end64 + locator + end))
