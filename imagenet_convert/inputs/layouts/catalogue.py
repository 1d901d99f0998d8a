"""What every layout hands the planner: classes, each split's images with their locators, and
where the box XML is. Nothing downstream of this knows which layout the bytes came from."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from re import Pattern
from typing import Any, ClassVar

from imagenet_convert.errors import shown
from imagenet_convert.inputs.archives import MAX_FILE_BYTES, LayoutError, too_large
from imagenet_convert.inputs.classes import imagenet1k_classes
from imagenet_convert.inputs.devkit import Synset
from imagenet_convert.inputs.layouts.locators import Locator
from imagenet_convert.inputs.layouts.table import ImageTable
from imagenet_convert.inputs.layouts.tree import Tree

WNID = re.compile(r"n\d{8}")
TRAIN_IMAGE = re.compile(r"(n\d{8})_\d+\.(JPEG|jpeg|jpg|JPG|png|PNG)")
VALIDATION_IMAGE = re.compile(r"ILSVRC2012_val_\d{8}\.(JPEG|jpeg|jpg|JPG|png|PNG)")
TRAIN_XML = re.compile(r"(n\d{8})_\d+\.xml")
VALIDATION_XML = re.compile(r"ILSVRC2012_val_\d{8}\.xml")

XmlFiles = Callable[[], Iterator[tuple[str, str, bytes]]]
"""Yields (where, file name, XML bytes): where names the archive member or file for messages."""


@dataclass
class Catalogue:
    """Every image of the requested splits, as a table per split."""

    classes: tuple[Synset, ...]
    """Sorted by WNID: Slim's label of a class is 1 + its index here."""
    class_source: str
    """Where the class list came from, for messages."""
    images: dict[str, ImageTable] = field(default_factory=dict)
    xml: dict[str, tuple[str, XmlFiles] | None] = field(default_factory=dict)
    """Split -> (description, XML files), or None when the input has no boxes for the split."""
    warnings: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    skipped: list[dict[str, str]] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)
    """Symbolic links followed out of the input (the first ``tree.OUTSIDE_LISTED``), for run_report.json."""

    def left_out(self, folder: str, image: Pattern) -> set[str]:
        """Names of the images under ``folder`` that --skip-bad-images left out: still images of the
        split, so the labels of the others still pair with theirs."""
        found = (entry["image"] for entry in self.skipped if entry["image"].startswith(f"{folder}/"))
        return {name for name in (path.rsplit("/", 1)[-1] for path in found) if image.fullmatch(name)}


def packaged_classes(wnids: set[str], where: str) -> tuple[Synset, ...]:
    """Classes named by folders alone: words from the packaged list of the 1000 real classes."""
    words = dict(imagenet1k_classes())
    unknown = sorted(wnids - set(words))
    if unknown:
        raise LayoutError(
            f"{where}: class {unknown[0]} is not one of the 1000 ILSVRC2012 classes and no devkit says "
            "what it is; put ILSVRC2012_devkit_t12.tar.gz beside the images"
        )
    return tuple(Synset(0, wnid, words[wnid]) for wnid in sorted(wnids))


FOLDERS = "folders"
"""The inputs' key of the folders' digest (what a folder layout holds besides named files)."""


def listing_digest(tree: Tree, paths: list[str]) -> dict[str, Any]:
    """Count, bytes and a digest of the (path, size) pairs: what a resumed run must find again."""
    ordered = sorted(paths)
    listing = "".join(f"{path}\t{tree.files[path]}\n" for path in ordered)
    digest = hashlib.sha256(listing.encode(errors="surrogateescape"))  # names as their bytes, UTF-8 or not
    return {"files": len(paths), "bytes": sum(tree.files[p] for p in paths), "sha256": digest.hexdigest()}


class Layout(ABC):
    """One way users hold ILSVRC2012. ``detect`` looks at the listing only; ``catalogue`` reads."""

    name: ClassVar[str]
    key_files: ClassVar[str]
    """What the layout needs, for the 'nothing matches' message and the README table."""

    def __init__(self, tree: Tree, skip_bad: bool = False, validation_labels: str | None = None):
        self.tree = tree
        self.skip_bad = skip_bad
        self.validation_labels = validation_labels
        """--validation-labels: Slim's WNID file, checked against (or standing in for) the devkit."""

    @classmethod
    @abstractmethod
    def detect(cls, tree: Tree) -> bool:
        """Whether the listing looks like this layout."""

    @abstractmethod
    def inputs(self, splits: tuple[str, ...]) -> dict[str, Any]:
        """The input files the conversion depends on (for the fingerprint and dataset_info.json)."""

    @abstractmethod
    def catalogue(
        self, splits: tuple[str, ...], on_class: Callable[[str, int, int], None] | None
    ) -> Catalogue:
        """Read classes, labels and image locations (never the images themselves)."""

    def describe(self) -> str:
        return self.name

    def bad_file(self, catalogue: Catalogue, path: str, problem: str) -> None:
        """A file that cannot be an image: stop, or with --skip-bad-images list it and go on."""
        if not self.skip_bad:
            raise LayoutError(
                f"{self.tree.where(path)}: {problem}; remove or fix it, or pass --skip-bad-images to leave "
                "it out (listed in run_report.json)"
            )
        catalogue.skipped.append({"image": shown(path), "problem": problem})

    def check_readable(self, names: Iterable[str]) -> None:
        """A needed file that is there but is no file to read (a broken link, a FIFO) is said as such,
        not as missing."""
        for name in names:
            if name in self.tree.broken:
                raise LayoutError(
                    f"{self.tree.where(name)}: {self.tree.broken[name]}; put the file itself there"
                )

    def check_tree(self, catalogue: Catalogue) -> None:
        """Junk is counted; broken links, unreadable entries and special files are bad files; links
        followed out of the input are counted and listed."""
        catalogue.counts["junk_skipped"] += len(self.tree.junk)
        for path, problem in sorted(self.tree.broken.items()):
            self.bad_file(catalogue, path, problem)
        if self.tree.outside_count:
            catalogue.counts["links_outside_input"] = self.tree.outside_count
        catalogue.links = [{"link": shown(link), "target": shown(to)} for link, to in self.tree.outside]

    def sort_file(
        self, catalogue: Catalogue, path: str, images: list[tuple[str, Locator]], image: Pattern, xml: Pattern
    ) -> None:
        """An image goes to ``images``; box XML beside it is read with the boxes; anything else is bad."""
        name = path.rsplit("/", 1)[-1]
        if image.fullmatch(name):
            if self.image_file(catalogue, path):
                images.append((name, self.tree.locator(path)))
        elif name.endswith(".part"):
            self.bad_file(catalogue, path, "a partial download (*.part)")
        elif not xml.fullmatch(name):
            self.bad_file(catalogue, path, "not an image of this layout (unknown file)")

    def class_folders(
        self,
        catalogue: Catalogue,
        folder: str,
        image: Pattern,
        xml: Pattern,
        other: Callable[[str], bool] = lambda path: False,
    ) -> dict[str, list[tuple[str, Locator]]]:
        """``folder/<wnid>/<file>`` images by WNID; ``other`` may claim what is not in a class folder."""
        per_class: dict[str, list[tuple[str, Locator]]] = {}
        for path in self.tree.under(folder):
            parts = path[len(folder) + 1 :].split("/")
            if len(parts) == 2 and WNID.fullmatch(parts[0]):
                self.sort_file(catalogue, path, per_class.setdefault(parts[0], []), image, xml)
            elif not other(path):
                self.bad_file(
                    catalogue, path, f"not where an image belongs (expected {folder}/<wnid>/<image>)"
                )
        return per_class

    def image_file(self, catalogue: Catalogue, path: str) -> bool:
        """Whether a listed image file can be planned (an empty one cannot, nor one no worker should
        hold: for a ZIP member, the size the central directory says it inflates to)."""
        size = self.tree.files[path]
        if size == 0:
            self.bad_file(catalogue, path, "an empty (zero-byte) image file")
        elif size > MAX_FILE_BYTES:
            self.bad_file(catalogue, path, too_large(size))
        return 0 < size <= MAX_FILE_BYTES
