"""The image-net.org download as downloaded: the five archives under their official names.

The rest of the image-net.org family (extracted.py, valprep.py) builds on this class: classes and
validation labels come from the devkit, boxes from the bbox archives, for every state of extraction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from apache_beam.io.filesystems import FileSystems

from imagenet_convert.errors import shown
from imagenet_convert.inputs import archives, devkit
from imagenet_convert.inputs.layouts.catalogue import (
    TRAIN_XML,
    VALIDATION_XML,
    Catalogue,
    Layout,
    LayoutError,
    XmlFiles,
    packaged_classes,
)
from imagenet_convert.inputs.layouts.locators import Locator
from imagenet_convert.inputs.layouts.table import ImageTable, TableBuilder, image_table
from imagenet_convert.storage.paths import is_local

ARCHIVES = {
    "train": "ILSVRC2012_img_train.tar",
    "validation": "ILSVRC2012_img_val.tar",
    "devkit": "ILSVRC2012_devkit_t12.tar.gz",
    "train_boxes": "ILSVRC2012_bbox_train_v2.tar.gz",
    "validation_boxes": "ILSVRC2012_bbox_val_v3.tgz",
}
DEVKIT_FOLDER = "ILSVRC2012_devkit_t12"
SLIM_VALIDATION_LABELS = "imagenet_2012_validation_synset_labels.txt"
INDEX_THREADS = 32
"""Class tars indexed at once on object storage, where each tar header costs a request."""
XML_PATTERNS = {"train": TRAIN_XML, "validation": VALIDATION_XML}

Images = dict[str, tuple[str, Locator]]
"""A validation split's images by name, as a layout pairs them with their labels."""


class Official(Layout):
    name = "official"
    key_files = f"{ARCHIVES['train']} and/or {ARCHIVES['validation']}, with {ARCHIVES['devkit']}"

    @classmethod
    def detect(cls, tree) -> bool:
        return ARCHIVES["devkit"] in tree.files and any(
            ARCHIVES[s] in tree.files for s in ("train", "validation")
        )

    def split_source(self, split: str) -> str | None:
        """What the split is read from (the archive here; a folder in the subclasses), None if absent."""
        return ARCHIVES[split] if ARCHIVES[split] in self.tree.files else None

    def wanted(self, split: str) -> str:
        """What a split needs, for the 'missing' message."""
        return ARCHIVES[split]

    def describe(self) -> str:
        sources = (f"{split} from {self.split_source(split)}" for split in ("train", "validation"))
        return f"{self.name} ({', '.join(s for s in sources if not s.endswith(' None'))})"

    def inputs(self, splits: tuple[str, ...]) -> dict[str, Any]:
        self.check_readable([ARCHIVES["devkit"], *(ARCHIVES[s] for s in splits)])
        missing = [self.wanted(s) for s in splits if self.split_source(s) is None]
        if not self.devkit_files() and not self.labels_without_devkit():
            missing.insert(0, ARCHIVES["devkit"])
        if missing:
            present = sorted(p for p in self.tree.files if "/" not in p)
            shown = ", ".join(present[:8]) + (" ..." if len(present) > 8 else "")
            raise LayoutError(
                f"{self.tree.root}: missing {', '.join(missing)} (found: {shown or 'nothing'}); the "
                "downloads must keep their official names, or choose fewer --splits"
            )
        return self.top_level_inputs(splits)

    def top_level_inputs(self, splits: tuple[str, ...]) -> dict[str, Any]:
        wanted = {
            ARCHIVES["devkit"],
            *(ARCHIVES[s] for s in splits),
            *(ARCHIVES[f"{s}_boxes"] for s in splits),
        }
        if self.labels_without_devkit():
            wanted.add(SLIM_VALIDATION_LABELS)
        return {name: self.tree.files[name] for name in sorted(wanted) if name in self.tree.files}

    def labels_without_devkit(self) -> bool:
        """Classes and validation labels from folders and Slim's WNID file (not for the archives)."""
        return False

    def devkit_files(self) -> dict[str, str]:
        """{member name: path} of the devkit's two data files, from its archive or its folder."""
        if ARCHIVES["devkit"] in self.tree.files:
            return {"archive": ARCHIVES["devkit"]}
        found = {}
        for path in self.tree.files:
            for wanted in ("data/meta.mat", "data/ILSVRC2012_validation_ground_truth.txt"):
                if path.endswith(f"{DEVKIT_FOLDER}/{wanted}"):
                    found[f"{DEVKIT_FOLDER}/{wanted}"] = path
        return found

    def load_devkit(self) -> devkit.Devkit | None:
        files = self.devkit_files()
        if "archive" in files:
            return devkit.load_devkit(
                FileSystems.join(self.tree.root, ARCHIVES["devkit"]), ARCHIVES["devkit"]
            )
        if not files:
            return None
        return devkit.parse_devkit(
            {name: self.tree.read(path) for name, path in files.items()}, f"{DEVKIT_FOLDER}/"
        )

    def catalogue(
        self, splits: tuple[str, ...], on_class: Callable[[str, int, int], None] | None
    ) -> Catalogue:
        kit = self.load_devkit()
        catalogue = Catalogue(kit.classes if kit else (), ARCHIVES["devkit"] if kit else "")
        self.check_tree(catalogue)
        if "train" in splits:
            catalogue.images["train"] = self.train_images(catalogue, on_class)
        if "validation" in splits:
            found = self.validation_images(catalogue, kit)
            catalogue.images["validation"] = validation_table(self.split_source("validation"), found)
        if kit is None:  # the folders name the classes; the packaged list gives their words
            wnids = {wnid for images in catalogue.images.values() for wnid in images.found_wnids()}
            catalogue.classes = packaged_classes(wnids, self.tree.root)
            catalogue.class_source = "the class folders"
        for split in splits:
            catalogue.xml[split] = self.xml_files(split)
        return catalogue

    def train_images(
        self, catalogue: Catalogue, on_class: Callable[[str, int, int], None] | None
    ) -> ImageTable:
        archive = ARCHIVES["train"]
        path = FileSystems.join(self.tree.root, archive)
        per_class = archives.index_train(
            path, archive, on_class, threads=1 if is_local(path) else INDEX_THREADS
        )
        return gather(
            archive,
            (
                (wnid, [(m.name, Locator(archive, m.offset, m.size)) for m in members])
                for wnid, members in per_class
            ),
        )

    def validation_images(self, catalogue: Catalogue, kit: devkit.Devkit | None) -> Images:
        archive = ARCHIVES["validation"]
        with archives.open_input(FileSystems.join(self.tree.root, archive)) as stream:
            members = archives.index_tar(stream, archive)
        found = {m.name: Locator(archive, m.offset, m.size) for m in members}
        if len(found) != len(members):
            names = sorted(m.name for m in members)
            duplicate = next(a for a, b in zip(names, names[1:], strict=False) if a == b)
            raise LayoutError(f"{archive}: image name {duplicate!r} appears twice")
        return self.pair_with_ground_truth(found, kit, archive, set())

    def ground_truth(self, kit: devkit.Devkit | None) -> tuple[tuple[str, ...], str]:
        """The validation WNIDs in image-name order, and where they came from."""
        if kit is None:
            given = self.validation_labels or SLIM_VALIDATION_LABELS
            path = self.validation_labels or FileSystems.join(self.tree.root, SLIM_VALIDATION_LABELS)
            return devkit.read_validation_labels(path), given
        if self.validation_labels:
            given = devkit.read_validation_labels(self.validation_labels)
            devkit.check_validation_labels(kit.validation_wnids, given, self.validation_labels)
        return kit.validation_wnids, ARCHIVES["devkit"]

    def pair_with_ground_truth(
        self, found: dict[str, Locator], kit: devkit.Devkit | None, source: str, left_out: set[str]
    ) -> Images:
        """Each image found with its line of the ground truth; images ``left_out`` (bad files under
        --skip-bad-images) keep their lines, so every other image keeps its label."""
        wnids, truth = self.ground_truth(kit)
        names = sorted({*found, *left_out})
        if len(wnids) != len(names):
            raise LayoutError(
                f"{truth}: the ground truth has {len(wnids)} lines but {source} holds {len(names)} images; "
                "the labels and the validation images do not belong together"
            )
        # The ground truth's line i is the i-th image in ascending name order, not in listing order.
        return {name: (wnid, found[name]) for name, wnid in zip(names, wnids, strict=True) if name in found}

    def xml_files(self, split: str) -> tuple[str, XmlFiles] | None:
        """The bbox archive when present, else extracted XML files named like the split's images."""
        archive = ARCHIVES[f"{split}_boxes"]
        if archive in self.tree.files:
            path = FileSystems.join(self.tree.root, archive)

            def from_archive() -> Iterator[tuple[str, str, bytes]]:
                for name, data in archives.iter_small_members(path, archive):
                    yield f"{archive}: {name}", name, data

            return archive, from_archive
        paths = self.extracted_xml(split)
        if not paths:
            return None
        return f"{len(paths)} extracted XML files", lambda: (
            (p, p, data) for p, data in self.tree.read_many(paths)
        )

    def extracted_xml(self, split: str) -> list[str]:
        """XML files named like the split's images, wherever extracted; a name seen twice is an error."""
        pattern = XML_PATTERNS[split]
        found: dict[str, str] = {}
        for path in sorted(p for p in self.tree.files if p.endswith(".xml")):
            name = path.rsplit("/", 1)[-1]
            if pattern.fullmatch(name):
                if name in found:
                    raise LayoutError(
                        f"{shown(path)}: {name} is also at {shown(found[name])}; keep one of the two copies"
                    )
                found[name] = path
        return sorted(found.values())


def gather(source: str, classes: Iterable[tuple[str, list[tuple[str, Locator]]]]) -> ImageTable:
    """The table of (wnid, images) per class, kept as columns class by class (see table.py)."""
    builder = TableBuilder(source)
    for wnid, members in classes:
        builder.extend((name, wnid, locator) for name, locator in members)
    return builder.table()


def validation_table(source: str | None, images: Images) -> ImageTable:
    """The table of a validation split paired with its labels (50,000 images: built at once)."""
    return image_table(source or "", ((name, wnid, loc) for name, (wnid, loc) in images.items()))
