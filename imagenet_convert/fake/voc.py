"""PASCAL VOC bounding-box XML with the quirks of the real ILSVRC2012 annotations.

A recipe names the one quirk a file carries (``clean`` for none). The raw numbers are kept beside
the XML so the expected boxes can be computed from them by Slim's rules without re-parsing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

from imagenet_convert.format.records import Box
from imagenet_convert.inputs import boxes

RawBox = tuple[int, int, int, int]


@dataclass(frozen=True)
class VocAnnotation:
    """One XML file's content: the ``<size>`` shown to the annotator and the named raw boxes."""

    folder: str
    filename: str
    width: int
    height: int
    objects: tuple[tuple[str, RawBox], ...]


@dataclass(frozen=True)
class Subject:
    """The annotated image: its class, real size and the names a quirky XML may use instead."""

    folder: str
    stem: str
    wnid: str
    width: int
    height: int
    foreign_wnid: str
    human_name: str


def human_name(words: str) -> str:
    """The style of name many dog XMLs carry instead of a WNID: ``Scottish_deerhound``."""
    return words.split(",")[0].strip().replace(" ", "_")


def _inside(width: int, height: int, rng: np.random.Generator) -> RawBox:
    x0 = int(rng.integers(0, max(1, width // 2)))
    y0 = int(rng.integers(0, max(1, height // 2)))
    x1 = int(rng.integers(x0 + max(1, width // 8), width + 1))
    y1 = int(rng.integers(y0 + max(1, height // 8), height + 1))
    return (x0, y0, x1, y1)


def _past_border(width: int, height: int, rng: np.random.Generator) -> tuple[RawBox, RawBox]:
    """One box sticking out of the picture (clamped) and one wholly outside it (dropped)."""
    x0, y0, _, _ = _inside(width, height, rng)
    sticking_out = (x0 - width // 4, y0, width + 1 + int(rng.integers(0, width // 4 + 1)), height + 7)
    outside = (width + 3, y0, width + 3 + max(1, width // 5), height)
    return sticking_out, outside


def _xml_size(recipe: str, subject: Subject, rng: np.random.Generator) -> tuple[int, int]:
    if recipe != "wrong_size":
        return subject.width, subject.height
    # The annotator saw a resized copy: every coordinate is in that frame, never the JPEG's.
    scale = float(rng.choice([0.5, 0.8, 1.6, 2.0]))
    return round(subject.width * scale), round(subject.height * scale)


def make_annotation(recipe: str, subject: Subject, rng: np.random.Generator) -> VocAnnotation:
    """The XML content for ``subject`` carrying the quirk named by ``recipe``."""
    width, height = _xml_size(recipe, subject, rng)
    if recipe == "box_past_border":
        raw: list[RawBox] = list(_past_border(width, height, rng))
    elif recipe == "multiple_objects":
        raw = [_inside(width, height, rng) for _ in range(int(rng.integers(2, 5)))]
    elif recipe == "foreign_wnid":
        raw = [_inside(width, height, rng) for _ in range(2)]
    else:
        raw = [_inside(width, height, rng)]
    if recipe == "box_min_gt_max":
        raw = [(x1, y1, x0, y0) for x0, y0, x1, y1 in raw]
    names = [subject.wnid] * len(raw)
    if recipe == "foreign_wnid":
        names[0] = subject.foreign_wnid
    elif recipe == "human_name":
        names[0] = subject.human_name
    filename = "%s" if recipe == "percent_s_filename" else subject.stem
    return VocAnnotation(subject.folder, filename, width, height, tuple(zip(names, raw, strict=True)))


def to_xml(annotation: VocAnnotation) -> bytes:
    """The annotation written the way the real files are laid out (tab-indented, no declaration)."""
    objects = "".join(
        f"\t<object>\n\t\t<name>{escape(name)}</name>\n\t\t<pose>Unspecified</pose>\n"
        f"\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
        f"\t\t\t<xmin>{x0}</xmin>\n\t\t\t<ymin>{y0}</ymin>\n\t\t\t<xmax>{x1}</xmax>\n\t\t\t<ymax>{y1}</ymax>\n"
        f"\t\t</bndbox>\n\t</object>\n"
        for name, (x0, y0, x1, y1) in annotation.objects
    )
    text = (
        f"<annotation>\n\t<folder>{escape(annotation.folder)}</folder>\n"
        f"\t<filename>{escape(annotation.filename)}</filename>\n"
        f"\t<source>\n\t\t<database>ILSVRC_2012</database>\n\t</source>\n"
        f"\t<size>\n\t\t<width>{annotation.width}</width>\n\t\t<height>{annotation.height}</height>\n"
        f"\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n{objects}</annotation>\n"
    )
    return text.encode()


def expected_boxes(annotation: VocAnnotation, image_wnid: str, challenge_wnids: Collection[str]) -> list[Box]:
    """The boxes Slim keeps for this annotation (facts section 3)."""
    first_name = annotation.objects[0][0] if annotation.objects else ""
    parsed = boxes.Annotation(
        annotation.width, annotation.height, first_name, tuple(raw for _, raw in annotation.objects)
    )
    return boxes.slim_boxes(parsed, image_wnid, challenge_wnids)
