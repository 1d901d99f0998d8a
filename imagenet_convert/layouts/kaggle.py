"""Kaggle's "ImageNet Object Localization Challenge": the same ILSVRC2012 CLS-LOC images, zipped.

The ZIP (~155 GB, ZIP64) is read in place: its central directory is the listing, and each image
is located by its local header (see locators.py). Unzipped, it is the same tree on disk. Classes
come from ``LOC_synset_mapping.txt`` (no devkit), validation labels from ``LOC_val_solution.csv``,
and boxes from the PASCAL VOC XML under ``ILSVRC/Annotations``, not the CSVs: Slim divides by
the XML ``<size>``, which the CSVs lack. ``test/`` has no labels and is left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from re import Pattern
from typing import Any

from imagenet_convert.devkit import Synset
from imagenet_convert.layouts.catalogue import (
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
from imagenet_convert.layouts.locators import Locator
from imagenet_convert.layouts.official import Images, gather, validation_table
from imagenet_convert.layouts.tree import Tree, list_zip

KAGGLE_ZIP = "imagenet-object-localization-challenge.zip"
MAPPING, VAL_SOLUTION = "LOC_synset_mapping.txt", "LOC_val_solution.csv"
DATA, ANNOTATIONS = "ILSVRC/Data/CLS-LOC", "ILSVRC/Annotations/CLS-LOC"
IGNORED = (f"{DATA}/test", "ILSVRC/ImageSets")
"""Unlabelled test images and the image lists: known, not converted."""


class KaggleTree(Layout):
    name = "kaggle-tree"
    key_files = f"{MAPPING}, {VAL_SOLUTION} and {DATA}/train/, {DATA}/val/ (the Kaggle download unzipped)"

    @classmethod
    def detect(cls, tree: Tree) -> bool:
        return MAPPING in tree.files and bool(tree.under(DATA))

    def inputs(self, splits: tuple[str, ...]) -> dict[str, Any]:
        for needed in (MAPPING, *([VAL_SOLUTION] if "validation" in splits else [])):
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
            catalogue.images["validation"] = validation_table(f"{DATA}/val/", self._validation(catalogue))
        for split, folder in (("train", "train"), ("validation", "val")):
            if split in splits:
                catalogue.xml[split] = self._xml(folder, TRAIN_XML if split == "train" else VALIDATION_XML)
        return catalogue

    def _classes(self) -> tuple[Synset, ...]:
        classes = []
        for number, line in enumerate(self.tree.read(MAPPING).decode("utf-8").splitlines(), start=1):
            wnid, _, words = line.strip().partition(" ")
            if not WNID.fullmatch(wnid) or not words:
                raise LayoutError(f"{MAPPING}: line {number} is {line!r}, not '<wnid> <words>'")
            classes.append(Synset(0, wnid, words))
        if len({c.wnid for c in classes}) != len(classes):
            raise LayoutError(f"{MAPPING}: a WNID appears twice")
        return tuple(sorted(classes, key=lambda synset: synset.wnid))

    def _validation(self, catalogue: Catalogue) -> Images:
        folder = f"{DATA}/val"
        found: list[tuple[str, Locator]] = []
        for path in self.tree.under(folder):
            if path.count("/") == folder.count("/") + 1:
                self.sort_file(catalogue, path, found, VALIDATION_IMAGE, VALIDATION_XML)
            else:
                self.bad_file(
                    catalogue, path, f"not a validation image (expected {folder}/ILSVRC2012_val_*.JPEG)"
                )
        labels = self._solution()
        images: Images = {}
        for name, locator in sorted(found):
            stem = name.rsplit(".", 1)[0]
            if stem not in labels:
                raise LayoutError(
                    f"{VAL_SOLUTION}: no row for {folder}/{name}; the CSV and the images do not match"
                )
            images[name] = (labels[stem], locator)
        if len(labels) != len(images):
            extra = sorted(set(labels) - {name.rsplit(".", 1)[0] for name in images})
            raise LayoutError(
                f"{VAL_SOLUTION}: row {extra[0]} has no image in {folder}/; is the download complete?"
            )
        return images

    def _solution(self) -> dict[str, str]:
        """ImageId -> WNID: a validation image's boxes all carry its class, the first one names it."""
        labels = {}
        rows = csv.DictReader(io.StringIO(self.tree.read(VAL_SOLUTION).decode("utf-8")))
        for number, row in enumerate(rows, start=2):
            words = (row.get("PredictionString") or "").split()
            if not row.get("ImageId") or not words or not WNID.fullmatch(words[0]):
                raise LayoutError(f"{VAL_SOLUTION}: line {number} has no '<ImageId>,<wnid> <xmin> ...' row")
            labels[row["ImageId"]] = words[0]
        return labels

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
