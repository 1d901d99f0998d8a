"""Bounding-box XML (PASCAL VOC) parsed safely and normalized exactly as TF-Slim does.

Slim's ``process_bounding_boxes.py`` reads the n-th ``xmin``/``ymin``/... element for the n-th
``<object>``, takes the first ``<width>``/``<height>`` (the size shown to the annotator) and the
FIRST ``<name>`` as the label of every box, then writes ``%.4f`` values that
``build_imagenet_data.py`` parses back. We keep each of those quirks on purpose: the output must
match Slim's record for record.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from lxml import etree

from imagenet_convert.format.records import Box
from imagenet_convert.inputs.ordered import in_order


class BoxXMLError(ValueError):
    """An XML file that cannot be turned into boxes (Slim's script would crash on it)."""


@dataclass(frozen=True)
class Annotation:
    """What Slim reads from one XML file."""

    width: int
    height: int
    first_name: str
    raw_boxes: tuple[tuple[int, int, int, int], ...]


def _parser() -> etree.XMLParser:
    # No entity expansion, no DTD, no network: a hostile file can neither blow up nor leak.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


WANTED = ("object", "xmin", "ymin", "xmax", "ymax", "width", "height", "name")


def _texts(root: etree._Element) -> dict[str, list[str]]:
    """{tag: stripped texts of its elements, in document order} for every tag Slim reads, in one walk."""
    texts: dict[str, list[str]] = {tag: [] for tag in WANTED}
    for element in root.iter(*WANTED):
        texts[element.tag].append((element.text or "").strip())
    return texts


def _int(text: str, tag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BoxXMLError(f"<{tag}> is not an integer: {text!r}") from None


def parse_annotation(data: bytes) -> Annotation:
    """Parse one VOC XML document the way Slim's ``ProcessXMLAnnotation`` reads it."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise BoxXMLError(f"malformed XML: {exc}") from None
    texts = _texts(root)
    count = len(texts["object"])
    columns = {tag: texts[tag] for tag in ("xmin", "ymin", "xmax", "ymax")}
    for tag, values in columns.items():
        if len(values) < count:
            raise BoxXMLError(f"{count} <object> elements but {len(values)} <{tag}>")
    size = {tag: texts[tag] for tag in ("width", "height")}
    names = texts["name"]
    if count and (not size["width"] or not size["height"]):
        raise BoxXMLError("missing <size><width>/<height>")
    if count and not names:
        raise BoxXMLError("missing <name>")
    width = _int(size["width"][0], "width") if count else 0
    height = _int(size["height"][0], "height") if count else 0
    if count and (width <= 0 or height <= 0):
        raise BoxXMLError(f"<size> must be positive, got {width}x{height}")
    raw = tuple(
        tuple(_int(columns[tag][i], tag) for tag in ("xmin", "ymin", "xmax", "ymax")) for i in range(count)
    )
    return Annotation(width, height, names[0] if names else "", raw)  # type: ignore[arg-type]


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _four_decimals(value: float) -> float:
    # Slim round-trips every value through a "%.4f" CSV line.
    return float(f"{value:.4f}")


def normalize_box(raw: tuple[int, int, int, int], width: int, height: int) -> Box | None:
    """One raw box divided by the XML ``<size>``, ordered, clamped, checked, rounded (rules 2-5)."""
    xmin, ymin, xmax, ymax = raw
    x0, x1 = sorted((xmin / width, xmax / width))
    y0, y1 = sorted((ymin / height, ymax / height))
    x0, x1, y0, y1 = _clamp(x0), _clamp(x1), _clamp(y0), _clamp(y1)
    if x0 >= x1 or y0 >= y1:
        return None
    return (_four_decimals(x0), _four_decimals(y0), _four_decimals(x1), _four_decimals(y1))


def slim_boxes(annotation: Annotation, image_wnid: str, challenge_wnids: Collection[str]) -> list[Box]:
    """The boxes Slim keeps for an image of class ``image_wnid`` (rules 2-6), in Slim's order.

    Slim's download script pipes the ``%.4f`` CSV through ``sort`` before the records are built,
    so an image's boxes come ascending by their rounded (xmin, ymin, xmax, ymax), not in XML order.
    """
    name = annotation.first_name
    if name in challenge_wnids and name != image_wnid:
        return []
    boxes = (normalize_box(raw, annotation.width, annotation.height) for raw in annotation.raw_boxes)
    return sorted(box for box in boxes if box is not None)


def image_name_for_xml(member_name: str) -> str:
    """Rule 1: the image is the XML file's basename plus ``.JPEG`` (``<filename>`` is unreliable)."""
    return os.path.splitext(os.path.basename(member_name))[0] + ".JPEG"


BATCH = 1000
"""XML files sent to a parsing process at once: enough to make the pickling cheap per file."""
AHEAD = 4
"""Batches in flight per process: bounded memory whatever the archive's size."""

Kept = tuple[list[Box], int] | BoxXMLError
"""An image's boxes as Slim keeps them and how many were dropped, or why its XML is unusable."""


def _boxes_batch(batch: list[tuple[Any, str, bytes]], challenge: frozenset[str]) -> list[tuple[Any, Kept]]:
    done: list[tuple[Any, Kept]] = []
    for key, wnid, data in batch:
        try:
            annotation = parse_annotation(data)
        except BoxXMLError as exc:
            done.append((key, exc))
            continue
        kept = slim_boxes(annotation, wnid, challenge)
        done.append((key, (kept, len(annotation.raw_boxes) - len(kept))))
    return done


def slim_boxes_of_many(
    files: Iterable[tuple[Any, str, bytes]], challenge: Collection[str], processes: int
) -> Iterator[tuple[Any, Kept]]:
    """``(key, kept)`` for every ``(key, image WNID, XML)`` in order, in ``processes`` processes.

    Parsing is most of planning's time at full cardinality (half a million files, ~25 us each),
    so the caller only streams the archive meanwhile. A single batch is parsed here: starting
    processes costs more than a small download's XML.
    """
    source, challenge = iter(files), frozenset(challenge)
    batches = iter(lambda: list(itertools.islice(source, BATCH)), [])
    first = next(batches, [])
    second = next(batches, None)
    if second is None or processes < 2:
        for batch in itertools.chain([first, second or []], batches):
            yield from _boxes_batch(batch, challenge)
        return
    # Spawned, not forked (the launcher has threads), nor from a fork server that would outlive them.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        parse = functools.partial(_boxes_batch, challenge=challenge)
        for done in in_order(pool, parse, itertools.chain([first, second], batches), AHEAD * processes):
            yield from done
