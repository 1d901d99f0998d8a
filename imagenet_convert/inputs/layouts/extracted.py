"""The image-net.org download extracted (what Slim's download script leaves, what most labs keep).

``train/<wnid>/<wnid>_<n>.JPEG`` (a class may still be ``train/<wnid>.tar``), flat
``val/ILSVRC2012_val_XXXXXXXX.JPEG`` (Slim names it ``validation/``). Each split is found on its
own: a split without its folder is read from its official archive. Classes and validation labels
come from the devkit (archive or folder) or, without one, from the class folders and Slim's
50,000-line WNID file; boxes from the bbox archives or their extracted XML, wherever it lies.
"""

from __future__ import annotations

from collections.abc import Callable

from imagenet_convert.inputs import archives
from imagenet_convert.inputs.archives import open_input
from imagenet_convert.inputs.devkit import Devkit
from imagenet_convert.inputs.layouts.catalogue import (
    FOLDERS,
    TRAIN_IMAGE,
    TRAIN_XML,
    VALIDATION_IMAGE,
    VALIDATION_XML,
    WNID,
    Catalogue,
    LayoutError,
    listing_digest,
)
from imagenet_convert.inputs.layouts.locators import Locator
from imagenet_convert.inputs.layouts.official import (
    ARCHIVES,
    SLIM_VALIDATION_LABELS,
    Images,
    Official,
    gather,
)
from imagenet_convert.inputs.layouts.table import ImageTable
from imagenet_convert.inputs.layouts.tree import Tree

TRAIN_FOLDER = "train"
VALIDATION_FOLDERS = ("val", "validation")
"""image-net.org's name, and Slim's."""


def validation_folder(tree: Tree) -> str | None:
    """The validation folder that holds files; both holding files is ambiguous."""
    used = [folder for folder in VALIDATION_FOLDERS if tree.under(folder)]
    if len(used) > 1:
        raise LayoutError(f"{tree.root}: both val/ and validation/ hold files; keep the one with the images")
    return used[0] if used else None


def has_images(tree: Tree, folder: str, depth: int) -> bool:
    """Whether ``folder`` holds files ``depth`` levels down (1: flat, 2: in class folders)."""
    return any(path.count("/") == depth for path in tree.under(folder))


class Extracted(Official):
    name = "extracted"
    key_files = (
        "train/<wnid>/*.JPEG and/or val/*.JPEG (or validation/), with ILSVRC2012_devkit_t12.tar.gz, its "
        "folder, or imagenet_2012_validation_synset_labels.txt; boxes from the bbox archives or their XML"
    )

    @classmethod
    def detect(cls, tree: Tree) -> bool:
        folder = validation_folder(tree)
        return bool(tree.under(TRAIN_FOLDER)) or (folder is not None and has_images(tree, folder, 1))

    def split_source(self, split: str) -> str | None:
        folder = TRAIN_FOLDER if split == "train" else validation_folder(self.tree)
        if folder is not None and self.tree.under(folder):
            return f"{folder}/"
        return super().split_source(split)

    def wanted(self, split: str) -> str:
        folder = "train/" if split == "train" else "val/ (or validation/)"
        return f"{ARCHIVES[split]} or its extracted folder {folder}"

    def labels_without_devkit(self) -> bool:
        return True

    def inputs(self, splits: tuple[str, ...]) -> dict[str, object]:
        inputs = super().inputs(splits)
        inside = [path for path in self.tree.files if "/" in path]  # every file of every folder
        return {**inputs, FOLDERS: listing_digest(self.tree, inside)}

    def train_images(
        self, catalogue: Catalogue, on_class: Callable[[str, int, int], None] | None
    ) -> ImageTable:
        if self.split_source("train") != f"{TRAIN_FOLDER}/":
            return super().train_images(catalogue, on_class)
        class_tars: dict[str, str] = {}

        def class_tar(path: str) -> bool:
            name = path.rsplit("/", 1)[-1]
            if path.count("/") == 1 and name.endswith(".tar") and WNID.fullmatch(name[:-4]):
                class_tars[name[:-4]] = path
                return True
            return False

        per_class = self.class_folders(catalogue, TRAIN_FOLDER, TRAIN_IMAGE, TRAIN_XML, class_tar)
        for wnid, path in sorted(class_tars.items()):
            if per_class.get(wnid):
                raise LayoutError(
                    f"{path}: class {wnid} is both this tar and the folder train/{wnid}/; keep one of the two"
                )
            with open_input(f"{self.tree.root}/{path}") as stream:
                per_class[wnid] = [
                    (m.name, Locator(path, m.offset, m.size)) for m in archives.index_tar(stream, path)
                ]
        for wnid in sorted(per_class):
            if on_class:
                on_class(wnid, len(per_class[wnid]), len(per_class))
        return gather("train/", ((wnid, images) for wnid, images in sorted(per_class.items()) if images))

    def validation_images(self, catalogue: Catalogue, kit: Devkit | None) -> Images:
        source = self.split_source("validation")
        if source is None or not source.endswith("/"):
            return super().validation_images(catalogue, kit)
        found: list[tuple[str, Locator]] = []
        for path in self.tree.under(source.rstrip("/")):
            if path.count("/") == 1:
                self.sort_file(catalogue, path, found, VALIDATION_IMAGE, VALIDATION_XML)
            else:
                self.bad_file(
                    catalogue, path, f"not a validation image (expected {source}ILSVRC2012_val_*.JPEG)"
                )
        left_out = catalogue.left_out(source.rstrip("/"), VALIDATION_IMAGE)
        return self.pair_with_ground_truth(dict(found), kit, source, left_out)

    def ground_truth(self, kit: Devkit | None) -> tuple[tuple[str, ...], str]:
        if kit is None and not self.validation_labels and SLIM_VALIDATION_LABELS not in self.tree.files:
            raise LayoutError(
                f"{self.tree.root}: the validation images need labels: put {ARCHIVES['devkit']} (or its "
                f"extracted folder) or Slim's {SLIM_VALIDATION_LABELS} beside them, or pass "
                "--validation-labels"
            )
        return super().ground_truth(kit)
