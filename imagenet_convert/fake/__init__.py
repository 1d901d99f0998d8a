"""A faithful miniature ILSVRC2012 download: the five archives, quirks included, and ``expected.json``.

The project cannot ship ImageNet, so tests, demo and benchmarks run on these miniatures. They copy
the real archives' names, layouts and quirks (docs/ilsvrc2012.md, sections 1-4: the downloads, the
devkit, the box XML, the image quirks), use real WNIDs and words, and are byte-identical for the same
options.
"""

from __future__ import annotations

import tarfile
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from imagenet_convert.fake import voc
from imagenet_convert.fake.devkit import leaf, with_ancestors, write_devkit
from imagenet_convert.fake.expected import ExpectedWriter
from imagenet_convert.fake.images import REENCODED_KINDS, ImageFactory
from imagenet_convert.fake.layouts import relayout, top_level_sizes
from imagenet_convert.fake.options import FakeOptions
from imagenet_convert.fake.plan import SPLITS, TRAIN, VALIDATION, Plan, PlannedImage
from imagenet_convert.fake.tars import add_dir, add_file, tar_bytes, write_tar, write_tar_gz
from imagenet_convert.format.records import Box
from imagenet_convert.inputs.layouts.official import ARCHIVES as OFFICIAL
from imagenet_convert.inputs.layouts.official import SLIM_VALIDATION_LABELS

__all__ = ["ARCHIVES", "EXPECTED", "VALIDATION_LABELS", "FakeOptions", "generate"]

TRAIN_TAR, VAL_TAR, DEVKIT, TRAIN_BBOX, VAL_BBOX = ARCHIVES = tuple(OFFICIAL.values())
"""The official downloads' names, as the converter knows them (``layouts.official``)."""
VALIDATION_LABELS = SLIM_VALIDATION_LABELS
"""Slim's WNID-per-line form of the validation ground truth (the converter's ``--validation-labels``)."""
EXPECTED = "expected.json"
DEFAULT_OPTIONS = FakeOptions()


class _Writer:
    """One generation run: writes the archives from the plan and keeps the quirk index and counts."""

    def __init__(self, output: Path, options: FakeOptions, progress: bool) -> None:
        self.output = output
        self.plan = Plan(options)
        self.classes = self.plan.classes
        self.validation = self.plan.validation_images()
        self.factory = ImageFactory(
            options.seed, len(self.classes), options.image_profile(), options.pool_size > 0
        )
        self.challenge = frozenset(c.wnid for c in self.classes)
        self.xml_quirks: dict[str, list[str]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)
        total = self.plan.train_total + len(self.validation)
        self.bar = tqdm(total=total, unit="img", desc="fake ILSVRC2012", disable=None if progress else True)

    def _encoded(self, image: PlannedImage) -> bytes:
        data = self.factory.encode(image.key)
        self.counts["image_bytes"] += len(data)
        self.bar.update()
        return data

    def _annotate(
        self,
        bboxes: tarfile.TarFile,
        folder: str,
        image: PlannedImage,
        size: tuple[int, int],
        rng: np.random.Generator,
    ) -> list[Box]:
        """Write the image's XML, if it has one, and return the boxes Slim keeps from it."""
        if image.xml is None:
            return []
        cls = self.classes[image.key.class_index]
        subject = voc.Subject(
            folder=folder,
            stem=image.name.removesuffix(".JPEG"),
            wnid=cls.wnid,
            width=size[0],
            height=size[1],
            foreign_wnid=self.classes[(image.key.class_index + 1) % len(self.classes)].wnid,
            human_name=voc.human_name(cls.words),
        )
        annotation = voc.make_annotation(image.xml, subject, rng)
        add_file(bboxes, f"{folder}/{subject.stem}.xml", voc.to_xml(annotation))
        boxes = voc.expected_boxes(annotation, cls.wnid, self.challenge)
        self.counts[f"{SPLITS[image.key.split]}_xml_files"] += 1
        return boxes

    def _entry(self, image: PlannedImage, size: tuple[int, int], boxes: list[Box]) -> dict[str, Any]:
        """The expected.json entry of an image; its XML quirks also go to the quirk index."""
        cls = self.classes[image.key.class_index]
        box_quirks = ["no_xml"] if image.xml is None else [image.xml] if image.xml != "clean" else []
        for quirk in box_quirks:
            self.xml_quirks[quirk].append(image.name)
        kind = image.key.kind
        return {
            "label": cls.label,
            "synset": cls.wnid,
            "text": cls.words,
            "height": size[1],
            "width": size[0],
            "boxes": [list(box) for box in boxes],
            "quirks": ([] if kind == "rgb" else [kind]) + box_quirks,
            "reencoded": kind in REENCODED_KINDS,
        }

    def write_train(self, expected: ExpectedWriter) -> None:
        """The train tar of class tars, its bounding-box archive, and the train entries."""
        expected.split("train")
        output = self.output
        with write_tar(output / TRAIN_TAR) as images, write_tar_gz(output / TRAIN_BBOX) as bboxes:
            for index, cls in enumerate(self.classes):
                add_dir(bboxes, cls.wnid)
                planned = self.plan.train_images(index)
                rng = self.plan.annotation_rng(TRAIN, index)
                for image in planned:
                    size = self.factory.size(image.key)
                    boxes = self._annotate(bboxes, cls.wnid, image, size, rng)
                    self.counts["train_boxes"] += len(boxes)
                    expected.add(image.name, self._entry(image, size, boxes))
                for orphan in self.plan.orphan_images(index):
                    self._annotate(bboxes, cls.wnid, orphan, self.factory.size(orphan.key), rng)
                    self.xml_quirks["xml_without_image"].append(
                        f"{cls.wnid}/{orphan.name.removesuffix('.JPEG')}.xml"
                    )
                members = (planned[i] for i in self.plan.train_member_order(index))
                add_file(images, f"{cls.wnid}.tar", tar_bytes((m.name, self._encoded(m)) for m in members))

    def write_validation(self, expected: ExpectedWriter) -> None:
        """The flat validation tar in shuffled member order, its XML archive, and the entries."""
        expected.split("validation")
        with write_tar_gz(self.output / VAL_BBOX) as bboxes:
            add_dir(bboxes, "val")
            rng = self.plan.annotation_rng(VALIDATION, 0)
            for image in self.validation:
                size = self.factory.size(image.key)
                boxes = self._annotate(bboxes, "val", image, size, rng)
                self.counts["validation_boxes"] += len(boxes)
                expected.add(
                    image.name, {**self._entry(image, size, []), "validation_boxes": [list(b) for b in boxes]}
                )
        with write_tar(self.output / VAL_TAR) as images:
            for number in self.plan.validation_order:
                image = self.validation[number - 1]
                add_file(images, image.name, self._encoded(image))

    def write_devkit(self) -> None:
        """The devkit archive and Slim's WNID form of the validation labels."""
        leaves = sorted(
            (leaf(c.ilsvrc_id, c.wnid, c.words, len(c.numbers)) for c in self.classes),
            key=lambda s: s.ilsvrc_id,
        )
        truth = [self.classes[image.key.class_index] for image in self.validation]
        write_devkit(
            self.output / DEVKIT, with_ancestors(leaves), [c.ilsvrc_id for c in truth], self.plan.blacklist
        )
        (self.output / VALIDATION_LABELS).write_text("".join(f"{c.wnid}\n" for c in truth))

    def summary(self, options: FakeOptions, files: dict[str, int]) -> dict[str, Any]:
        """Counts and sizes of what was made."""
        images = self.plan.train_total + len(self.validation)
        return {
            "output": str(self.output),
            "classes": len(self.classes),
            "train_images": self.plan.train_total,
            "validation_images": len(self.validation),
            "train_xml_files": self.counts["train_xml_files"],
            "validation_xml_files": self.counts["validation_xml_files"],
            "train_boxes": self.counts["train_boxes"],
            "validation_boxes": self.counts["validation_boxes"],
            "mean_image_bytes": round(self.counts["image_bytes"] / images) if images else 0,
            "files": files,
            "options": asdict(options),
        }


def generate(
    output_dir: str | Path, options: FakeOptions = DEFAULT_OPTIONS, *, progress: bool = False
) -> dict[str, Any]:
    """Write a miniature ILSVRC2012 download into ``output_dir`` and return a summary of it.

    ``options.layout`` other than official rewrites the archives as that layout (same images).
    ``progress`` shows a tqdm bar over the images on a terminal (for the long full-size runs).
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    writer = _Writer(output, options, progress)
    classes = [
        {"wnid": c.wnid, "words": c.words, "ilsvrc_id": c.ilsvrc_id, "label": c.label} for c in writer.classes
    ]
    generator = {"seed": options.seed, "options": asdict(options)}
    with writer.bar, ExpectedWriter(output / EXPECTED, generator, classes) as expected:
        writer.write_train(expected)
        writer.write_validation(expected)
        expected.finish(writer.xml_quirks)
    writer.write_devkit()
    if options.layout == "official":
        files = {name: (output / name).stat().st_size for name in (*ARCHIVES, VALIDATION_LABELS, EXPECTED)}
    else:
        relayout(output, options.layout)
        files = top_level_sizes(output)
    return writer.summary(options, files)
