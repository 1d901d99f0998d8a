"""Copies of a generated download with one archive damaged in a chosen way.

Unchanged files are hard-linked (the shared session fixture is never written); a damaged archive
is written as a new file under the copy.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

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
    (folder / name).unlink()
    (folder / name).write_bytes(data)


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
