"""Kaggle's "ImageNet Object Localization Challenge": the same ILSVRC2012 CLS-LOC images, zipped.

The ZIP (~155 GB, ZIP64) is read in place: its central directory is the listing, and each image
is located by its local header (see locators.py). Unzipped, it is the same tree on disk. Classes
come from ``LOC_synset_mapping.txt`` (no devkit), validation labels from ``LOC_val_solution.csv``,
and boxes from the PASCAL VOC XML under ``ILSVRC/Annotations``, not the CSVs: Slim divides by
the XML ``<size>``, which the CSVs lack. ``test/`` has no labels and is left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from re import Pattern
from typing import Any

from imagenet_convert.inputs.devkit import Synset
from imagenet_convert.inputs.layouts.catalogue import (
    FOLDERS,
    TRAIN_IMAGE,
    TRAIN_XML,
    VALIDATION_IMAGE,
    VALIDATION_XML,
    WNID,
    Catalogue,
    Layout,
    LayoutError,
    XmlFiles,
    listing_digest,
)
from imagenet_convert.inputs.layouts.locators import Locator
from imagenet_convert.inputs.layouts.official import Images, gather, validation_table
from imagenet_convert.inputs.layouts.tree import Tree, list_zip

KAGGLE_ZIP = "imagenet-object-localization-challenge.zip"
MAPPING, VAL_SOLUTION = "LOC_synset_mapping.txt", "LOC_val_solution.csv"
DATA, ANNOTATIONS = "ILSVRC/Data/CLS-LOC", "ILSVRC/Annotations/CLS-LOC"
IGNORED = (f"{DATA}/test", "ILSVRC/ImageSets")
"""Unlabelled test images and the image lists: known, not converted."""
SOLUTION_HEADER = "ImageId,PredictionString"
VALIDATION_ID = re.compile(r"ILSVRC2012_val_\d{8}")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _value(text: str) -> str:
    """A line of an input file as a message quotes it: one line, not too long."""
    return repr(text if len(text) <= 80 else text[:80] + "...")


def _solution_row(line: str, number: int) -> tuple[str, str]:
    """(ImageId, WNID) of a row '<ImageId>,<wnid> <xmin> <ymin> <xmax> <ymax> ...'."""
    image, comma, boxes = line.strip().partition(",")
    words = boxes.split()
    if not comma or not VALIDATION_ID.fullmatch(image) or not words or len(words) % 5:
        raise LayoutError(
            f"{VAL_SOLUTION}: line {number} is {_value(line)}, not "
            "'ILSVRC2012_val_XXXXXXXX,<wnid> <xmin> <ymin> <xmax> <ymax> ...'"
        )
    classes = words[::5]
    for wnid in classes:
        if not WNID.fullmatch(wnid):
            raise LayoutError(
                f"{VAL_SOLUTION}: line {number} names class {_value(wnid)}, not a WNID like n01440764"
            )
        if wnid != classes[0]:
            raise LayoutError(
                f"{VAL_SOLUTION}: line {number} gives {image} boxes of two classes ({classes[0]}, {wnid}); "
                "a validation image has one class"
            )
    for coordinate in (word for index, word in enumerate(words) if index % 5):
        if not NUMBER.fullmatch(coordinate):
            raise LayoutError(
                f"{VAL_SOLUTION}: line {number} has box coordinate {_value(coordinate)}, not a number"
            )
    return image, classes[0]


class KaggleTree(Layout):
    name = "kaggle-tree"
    key_files = f"{MAPPING}, {VAL_SOLUTION} and {DATA}/train/, {DATA}/val/ (the Kaggle download unzipped)"

    @classmethod
    def detect(cls, tree: Tree) -> bool:
        return MAPPING in tree.files and bool(tree.under(DATA))

    def inputs(self, splits: tuple[str, ...]) -> dict[str, Any]:
        needs = (MAPPING, *([VAL_SOLUTION] if "validation" in splits else []))
        self.check_readable(needs)
        for needed in needs:
            if needed not in self.tree.files:
                raise LayoutError(
                    f"{self.tree.root}: missing {needed}, which the Kaggle download has at its top"
                )
        top = {name: self.tree.files[name] for name in (MAPPING, VAL_SOLUTION) if name in self.tree.files}
        return {**top, FOLDERS: listing_digest(self.tree, self.tree.under("ILSVRC"))}

    def catalogue(
        self, splits: tuple[str, ...], on_class: Callable[[str, int, int], None] | None
    ) -> Catalogue:
        catalogue = Catalogue(self._classes(), MAPPING)
        labels = (
            self._solution({synset.wnid for synset in catalogue.classes}) if "validation" in splits else {}
        )
        self.check_tree(catalogue)
        ignored = [path for prefix in IGNORED for path in self.tree.under(prefix)]
        catalogue.counts["kaggle_files_ignored"] = len(ignored)
        if "train" in splits:
            per_class = self.class_folders(catalogue, f"{DATA}/train", TRAIN_IMAGE, TRAIN_XML)
            for wnid in sorted(per_class):
                if on_class:
                    on_class(wnid, len(per_class[wnid]), len(per_class))
            catalogue.images["train"] = gather(f"{DATA}/train/", sorted(per_class.items()))
        if "validation" in splits:
            images = self._validation(catalogue, labels)
            catalogue.images["validation"] = validation_table(f"{DATA}/val/", images)
        for split, folder in (("train", "train"), ("validation", "val")):
            if split in splits:
                catalogue.xml[split] = self._xml(folder, TRAIN_XML if split == "train" else VALIDATION_XML)
        return catalogue

    def _lines(self, name: str) -> list[str]:
        """The lines of one of Kaggle's text files (UTF-8, a byte-order mark allowed)."""
        data = self.tree.read(name)
        try:
            return data.decode("utf-8-sig").splitlines()
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise LayoutError(
                f"{name}: line {line} is not UTF-8 text (byte {exc.start}); is it the file Kaggle ships?"
            ) from None

    def _classes(self) -> tuple[Synset, ...]:
        """The classes of the mapping, each once: '<wnid> <words>' a line."""
        first: dict[str, int] = {}
        classes = []
        for number, line in enumerate(self._lines(MAPPING), start=1):
            if not line.strip():
                continue  # a blank line (an editor's last one, say) holds no class
            wnid, _, words = line.strip().partition(" ")
            if not WNID.fullmatch(wnid) or not words.strip():
                raise LayoutError(f"{MAPPING}: line {number} is {_value(line)}, not '<wnid> <words>'")
            if wnid in first:
                raise LayoutError(
                    f"{MAPPING}: line {number} lists class {wnid} again (first on line {first[wnid]}); "
                    "each class must appear once"
                )
            first[wnid] = number
            classes.append(Synset(0, wnid, words.strip()))
        if not classes:
            raise LayoutError(f"{MAPPING}: holds no classes (it should list 1000 lines '<wnid> <words>')")
        return tuple(sorted(classes, key=lambda synset: synset.wnid))

    def _solution(self, wnids: set[str]) -> dict[str, str]:
        """ImageId -> WNID, checked as a whole: one row per image, every box of a row of one class
        (the image's), known to the mapping."""
        lines = self._lines(VAL_SOLUTION)
        if not lines or lines[0].strip() != SOLUTION_HEADER:
            found = _value(lines[0]) if lines else "missing"
            raise LayoutError(f"{VAL_SOLUTION}: line 1 is {found}, not the header {SOLUTION_HEADER!r}")
        labels: dict[str, str] = {}
        first: dict[str, int] = {}  # the line of each image's row
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            image, wnid = _solution_row(line, number)
            if image in first:
                raise LayoutError(
                    f"{VAL_SOLUTION}: line {number} has a second row for {image} (first on line "
                    f"{first[image]}); each validation image must have one"
                )
            if wnid not in wnids:
                raise LayoutError(
                    f"{VAL_SOLUTION}: line {number} gives {image} class {wnid}, which {MAPPING} does not list"
                )
            first[image], labels[image] = number, wnid
        return labels

    def _validation(self, catalogue: Catalogue, labels: dict[str, str]) -> Images:
        """Every validation image with its row; every row with its image (or left out as a bad file)."""
        folder = f"{DATA}/val"
        found: list[tuple[str, Locator]] = []
        for path in self.tree.under(folder):
            if path.count("/") == folder.count("/") + 1:
                self.sort_file(catalogue, path, found, VALIDATION_IMAGE, VALIDATION_XML)
            else:
                self.bad_file(
                    catalogue, path, f"not a validation image (expected {folder}/ILSVRC2012_val_*.JPEG)"
                )
        images: Images = {}
        for name, locator in sorted(found):
            stem = name.rsplit(".", 1)[0]
            if stem not in labels:
                raise LayoutError(
                    f"{VAL_SOLUTION}: no row for {folder}/{name}; the CSV and the images do not match"
                )
            images[name] = (labels[stem], locator)
        seen = {name.rsplit(".", 1)[0] for name in [*images, *catalogue.left_out(folder, VALIDATION_IMAGE)]}
        extra = sorted(set(labels) - seen)
        if extra:
            raise LayoutError(
                f"{VAL_SOLUTION}: row {extra[0]} has no image in {folder}/; is the download complete?"
            )
        return images

    def _xml(self, folder: str, pattern: Pattern) -> tuple[str, XmlFiles] | None:
        paths = [
            p for p in self.tree.under(f"{ANNOTATIONS}/{folder}") if pattern.fullmatch(p.rsplit("/", 1)[-1])
        ]
        if not paths:
            return None
        return f"{ANNOTATIONS}/{folder}/", lambda: ((p, p, data) for p, data in self.tree.read_many(paths))


class KaggleZip(KaggleTree):
    name = "kaggle-zip"
    key_files = f"{KAGGLE_ZIP}, read in place (--input may also be the ZIP itself)"

    @classmethod
    def detect(cls, tree: Tree) -> bool:
        return cls.zip_name(tree) is not None

    @staticmethod
    def zip_name(tree: Tree) -> str | None:
        """Kaggle's name, or any one ZIP given as --input itself."""
        if KAGGLE_ZIP in tree.files:
            return KAGGLE_ZIP
        zips = [path for path in tree.files if path.endswith(".zip") and "/" not in path]
        return zips[0] if len(tree.files) == 1 and zips else None

    def __init__(self, tree: Tree, skip_bad: bool = False, validation_labels: str | None = None):
        name = self.zip_name(tree)
        if name is None:
            raise LayoutError(f"{tree.root}: no {KAGGLE_ZIP} here")
        self.zip, self.zip_size = name, tree.files[name]
        super().__init__(list_zip(tree.root, name), skip_bad, validation_labels)

    def inputs(self, splits: tuple[str, ...]) -> dict[str, Any]:
        super().inputs(splits)  # the members it needs are there
        return {self.zip: self.zip_size}

    def describe(self) -> str:
        return f"{self.name} ({self.zip}, {len(self.tree.files)} members)"
