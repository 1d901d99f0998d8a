"""The same miniature in every layout users hold ILSVRC2012 in (docs/ilsvrc2012.md, 8. Other layouts).

The five official archives are generated first; every other layout is rewritten from them, so
the images are the very same bytes whatever the layout. Each layout gets its own files and
quirks: extracted trees carry file-manager junk and one class left as its tar; Kaggle has no
devkit, CSV solutions in pixels, unlabelled test images, and (zipped) both stored and deflated
members behind ZIP64 local headers.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from imagenet_convert.fake.options import LAYOUTS
from imagenet_convert.inputs.devkit import parse_devkit
from imagenet_convert.inputs.layouts.kaggle import ANNOTATIONS as KAGGLE_ANNOTATIONS
from imagenet_convert.inputs.layouts.kaggle import DATA as KAGGLE_DATA
from imagenet_convert.inputs.layouts.kaggle import KAGGLE_ZIP, MAPPING, VAL_SOLUTION
from imagenet_convert.inputs.layouts.official import ARCHIVES, SLIM_VALIDATION_LABELS

OFFICIAL = "official"
TRAIN_TAR, VAL_TAR, DEVKIT, TRAIN_BBOX, VAL_BBOX = tuple(ARCHIVES.values())
SLIM_LABELS = SLIM_VALIDATION_LABELS
TEST_IMAGES = 3
"""Kaggle's unlabelled test images (copies of validation images here: the converter must ignore them)."""
ZIP_TIME = (2012, 5, 1, 0, 0, 0)
DEFLATE_EVERY = 7
"""Every 7th image is deflated in the ZIP, the rest stored (text files are always deflated)."""


class _Folder:
    """Writes files under a folder."""

    def __init__(self, root: Path):
        self.root = root

    def put(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def close(self) -> None:
        pass


class _Zip:
    """Writes files into a ZIP deterministically: fixed times, ZIP64 local headers, members in call order."""

    def __init__(self, path: Path):
        self.archive = zipfile.ZipFile(path, "w")
        self.images = 0

    def put(self, path: str, data: bytes) -> None:
        info = zipfile.ZipInfo(path, ZIP_TIME)
        image = path.endswith(".JPEG")
        self.images += image
        deflate = not image or self.images % DEFLATE_EVERY == 0
        info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
        with self.archive.open(info, "w", force_zip64=True) as member:
            member.write(data)

    def close(self) -> None:
        self.archive.close()


def _members(tar: tarfile.TarFile) -> Iterator[tuple[str, bytes]]:
    for info in tar:
        if info.isfile():
            handle = tar.extractfile(info)
            yield info.name, handle.read() if handle else b""
        tar.members.clear()


def _train(folder: Path) -> Iterator[tuple[str, str, bytes]]:
    """(wnid, image name, bytes) in archive order; the class tar's own bytes as name ``<wnid>.tar``."""
    with tarfile.open(folder / TRAIN_TAR) as outer:
        for class_tar, data in _members(outer):
            wnid = class_tar.removesuffix(".tar")
            yield wnid, class_tar, data
            with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                for name, image in _members(inner):
                    yield wnid, name, image


def _tar_files(path: Path) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        yield from _members(tar)


def _junk(sink: _Folder, first_class: str, first_image: str) -> None:
    """What file managers leave in extracted trees; the converter must skip and count it."""
    sink.put(".DS_Store", b"\0\0\0\1Bud1")
    sink.put(f"train/{first_class}/._{first_image}", b"\0\5\26\7AppleDouble")
    sink.put("train/Thumbs.db", b"thumbs")
    sink.put("desktop.ini", b"[.ShellClassInfo]\r\n")
    (sink.root / "lost+found").mkdir(exist_ok=True)


def _validation_wnids(folder: Path) -> list[str]:
    return (folder / SLIM_LABELS).read_text().split()


def _extracted(folder: Path, valprep: bool) -> None:
    sink = _Folder(folder)
    with tarfile.open(folder / TRAIN_TAR) as outer:
        classes = sorted(name.removesuffix(".tar") for name in outer.getnames())
    kept_tar = classes[-1] if len(classes) > 1 and not valprep else None
    first: tuple[str, str] | None = None
    for wnid, name, data in _train(folder):
        if name.endswith(".tar"):
            if wnid == kept_tar:
                sink.put(f"train/{name}", data)
        elif wnid != kept_tar:
            sink.put(f"train/{wnid}/{name}", data)
            first = first or (wnid, name)
    wnids = _validation_wnids(folder)
    val = "validation" if valprep else "val"
    for name, data in _tar_files(folder / VAL_TAR):
        number = int(name.removesuffix(".JPEG").rsplit("_", 1)[1])
        sink.put(f"{val}/{wnids[number - 1]}/{name}" if valprep else f"{val}/{name}", data)
    if valprep:  # the devkit extracted; the box archives kept
        for name, data in _tar_files(folder / DEVKIT):
            sink.put(name, data)
        (folder / DEVKIT).unlink()
    else:  # Slim's bounding_boxes/ for train, the validation XML beside its images
        for name, data in _tar_files(folder / TRAIN_BBOX):
            sink.put(f"bounding_boxes/{name}", data)
        for name, data in _tar_files(folder / VAL_BBOX):
            sink.put(f"val/{name.rsplit('/', 1)[-1]}", data)
        (folder / TRAIN_BBOX).unlink()
        (folder / VAL_BBOX).unlink()
    if first:
        _junk(sink, *first)
    (folder / TRAIN_TAR).unlink()
    (folder / VAL_TAR).unlink()


def _objects(xml: bytes) -> list[tuple[str, str, str, str, str]]:
    """(name, xmin, ymin, xmax, ymax) of each object, as Kaggle's CSV spells them."""
    root = etree.fromstring(xml)
    found = []
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        values = (
            [(box.findtext(tag) or "").strip() for tag in ("xmin", "ymin", "xmax", "ymax")]
            if box is not None
            else []
        )
        found.append(((obj.findtext("name") or "").strip(), *values))
    return found  # type: ignore[return-value]


def _kaggle(folder: Path, sink: _Folder | _Zip) -> None:
    kit = parse_devkit(dict(_tar_files(folder / DEVKIT)), DEVKIT)
    wnids = _validation_wnids(folder)
    sink.put(MAPPING, "".join(f"{c.wnid} {c.words}\n" for c in kit.classes).encode())
    train_names: list[str] = []
    for wnid, name, data in _train(folder):
        if not name.endswith(".tar"):
            sink.put(f"{KAGGLE_DATA}/train/{wnid}/{name}", data)
            train_names.append(f"{wnid}/{name.removesuffix('.JPEG')}")
    val_names, test = [], []
    for name, data in _tar_files(folder / VAL_TAR):
        sink.put(f"{KAGGLE_DATA}/val/{name}", data)
        val_names.append(name.removesuffix(".JPEG"))
        if len(test) < TEST_IMAGES:
            test.append(f"ILSVRC2012_test_{len(test) + 1:08d}")
            sink.put(f"{KAGGLE_DATA}/test/{test[-1]}.JPEG", data)
    images = set(train_names)
    train_rows, train_loc, val_rows = [], [], {}
    for name, xml in _tar_files(folder / TRAIN_BBOX):
        stem = name.removesuffix(".xml")
        if stem in images:  # Kaggle keeps no XML of images it does not have
            sink.put(f"{KAGGLE_ANNOTATIONS}/train/{name}", xml)
            boxes = " ".join(" ".join(obj) for obj in _objects(xml))
            train_rows.append(f"{stem.split('/')[1]},{boxes}")
            train_loc.append(stem)
    for name, xml in _tar_files(folder / VAL_BBOX):
        stem = name.rsplit("/", 1)[-1].removesuffix(".xml")
        sink.put(f"{KAGGLE_ANNOTATIONS}/val/{stem}.xml", xml)
        wnid = wnids[int(stem.rsplit("_", 1)[1]) - 1]
        val_rows[stem] = " ".join(" ".join((wnid, *obj[1:])) for obj in _objects(xml))
    header = "ImageId,PredictionString\n"
    sink.put("LOC_train_solution.csv", (header + "".join(f"{row}\n" for row in train_rows)).encode())
    rows = "".join(f"{stem},{val_rows[stem]}\n" for stem in val_names)  # the validation tar's shuffled order
    sink.put(VAL_SOLUTION, (header + rows).encode())
    sample = "".join(f"{stem},{kit.classes[0].wnid} 0 0 10 10\n" for stem in test)
    sink.put("LOC_sample_submission.csv", (header + sample).encode())
    sets = "ILSVRC/ImageSets/CLS-LOC"
    sink.put(f"{sets}/train_cls.txt", "".join(f"{n} {i}\n" for i, n in enumerate(train_names, 1)).encode())
    sink.put(f"{sets}/train_loc.txt", "".join(f"{n} {i}\n" for i, n in enumerate(train_loc, 1)).encode())
    sink.put(f"{sets}/val.txt", "".join(f"{n} {i}\n" for i, n in enumerate(sorted(val_names), 1)).encode())
    sink.put(f"{sets}/test.txt", "".join(f"{n} {i}\n" for i, n in enumerate(test, 1)).encode())
    sink.close()
    for name in (TRAIN_TAR, VAL_TAR, DEVKIT, TRAIN_BBOX, VAL_BBOX, SLIM_LABELS):
        (folder / name).unlink()


def relayout(folder: Path, layout: str) -> None:
    """Rewrite the official archives generated in ``folder`` as ``layout`` (expected.json stays)."""
    if layout == OFFICIAL:
        return
    if layout in ("extracted", "valprep"):
        _extracted(folder, valprep=layout == "valprep")
    elif layout == "kaggle-tree":
        _kaggle(folder, _Folder(folder))
    elif layout == "kaggle-zip":
        _kaggle(folder, _Zip(folder / KAGGLE_ZIP))
    else:
        raise ValueError(f"unknown layout {layout!r}; one of {', '.join(LAYOUTS)}")


def top_level_sizes(folder: Path) -> dict[str, int]:
    """Bytes of each top-level file, and of each folder (recursively), for the summary."""
    sizes = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            sizes[f"{path.name}/"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        else:
            sizes[path.name] = path.stat().st_size
    return sizes
