"""The extracted download after ``valprep.sh`` (or Slim's preprocess_imagenet_validation_data.py):
validation images moved into class folders, ``val/<wnid>/ILSVRC2012_val_XXXXXXXX.JPEG``.

The folder names are the labels. Where a devkit or Slim's WNID file is present as well, the two
must agree: a mislabelled copy would otherwise train and evaluate on wrong labels in silence.
"""

from __future__ import annotations

from imagenet_convert.inputs.archives import LayoutError
from imagenet_convert.inputs.devkit import Devkit
from imagenet_convert.inputs.layouts.catalogue import VALIDATION_IMAGE, VALIDATION_XML, Catalogue
from imagenet_convert.inputs.layouts.extracted import Extracted, has_images, validation_folder
from imagenet_convert.inputs.layouts.official import SLIM_VALIDATION_LABELS, Images
from imagenet_convert.inputs.layouts.tree import Tree


class Valprep(Extracted):
    name = "valprep"
    key_files = (
        "as extracted, with val/<wnid>/ILSVRC2012_val_*.JPEG (or validation/<wnid>/): the folders are "
        "the labels"
    )

    @classmethod
    def detect(cls, tree: Tree) -> bool:
        folder = validation_folder(tree)
        return folder is not None and has_images(tree, folder, 2)

    def validation_images(self, catalogue: Catalogue, kit: Devkit | None) -> Images:
        source = self.split_source("validation")
        if source is None or not source.endswith("/"):
            return super().validation_images(catalogue, kit)
        folder = source.rstrip("/")

        def box_file(path: str) -> bool:  # the validation box archive extracted into val/
            return path.count("/") == 1 and bool(VALIDATION_XML.fullmatch(path.rsplit("/", 1)[-1]))

        per_class = self.class_folders(catalogue, folder, VALIDATION_IMAGE, VALIDATION_XML, box_file)
        wnids, located = {}, {}
        for wnid, images in sorted(per_class.items()):
            for name, locator in images:
                if name in located:
                    raise LayoutError(
                        f"{source}: image {name!r} is in two class folders ({wnids[name]}, {wnid})"
                    )
                wnids[name], located[name] = wnid, locator
        if kit is not None or self.validation_labels or SLIM_VALIDATION_LABELS in self.tree.files:
            _, where = self.ground_truth(kit)
            left_out = catalogue.left_out(folder, VALIDATION_IMAGE)
            for name, (wnid, _) in self.pair_with_ground_truth(located, kit, source, left_out).items():
                if wnids[name] != wnid:
                    raise LayoutError(
                        f"{source}{wnids[name]}/{name}: its folder says {wnids[name]} but {where} says "
                        f"{wnid}; the two label sources disagree (was valprep run with another label list?)"
                    )
        return {name: (wnids[name], located[name]) for name in sorted(located)}
