"""Slim's box rules pinned by a hand-written golden table (facts section 3), and the generator held to them.

Each golden row is XML text in and literal numbers out, worked out by hand, so neither the
converter's ``imagenet_convert.inputs.boxes`` nor the generator can drift from Slim together.
"""

from __future__ import annotations

import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from imagenet_convert.inputs import boxes
from imagenet_convert.inputs.boxes import (
    BoxXMLError,
    image_name_for_xml,
    normalize_box,
    parse_annotation,
    slim_boxes,
)

CHALLENGE = frozenset({"n01440764", "n01443537", "n02092002"})
"""The challenge WNIDs the golden rows are judged against (tench, goldfish, Scottish deerhound)."""


def voc(
    width: int, height: int, *objects: tuple[str, int, int, int, int], filename: str = "n01440764_96"
) -> bytes:
    """A VOC file as in the real archive: ``objects`` are (name, xmin, ymin, xmax, ymax)."""
    body = "".join(
        f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for name, x0, y0, x1, y1 in objects
    )
    return (
        f"<annotation><folder>n01440764</folder><filename>{filename}</filename>"
        f"<source><database>ILSVRC_2012</database></source>"
        f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
        f"<segmented>0</segmented>{body}</annotation>"
    ).encode()


GOLDEN = [
    pytest.param(
        voc(500, 375, ("n01440764", 34, 128, 430, 305)),
        [(0.068, 0.3413, 0.86, 0.8133)],
        id="divide-by-xml-size-and-round",
    ),
    pytest.param(
        # Same box, but the annotator saw a 1000x750 copy: Slim divides by <size>, not by the JPEG's size.
        voc(1000, 750, ("n01440764", 34, 128, 430, 305)),
        [(0.034, 0.1707, 0.43, 0.4067)],
        id="wrong-size-divides-by-xml-size",
    ),
    pytest.param(
        voc(500, 375, ("n01440764", 430, 305, 34, 128)),
        [(0.068, 0.3413, 0.86, 0.8133)],
        id="min-greater-than-max-swapped",
    ),
    pytest.param(
        voc(500, 375, ("n01440764", -20, 100, 600, 400)),
        [(0.0, 0.2667, 1.0, 1.0)],
        id="past-border-clamped",
    ),
    pytest.param(
        voc(500, 375, ("n01440764", 510, 10, 600, 50)),
        [],
        id="wholly-outside-dropped",
    ),
    pytest.param(
        voc(500, 375, ("n01440764", 100, 10, 100, 50), ("n01440764", 10, 60, 90, 60)),
        [],
        id="zero-width-and-zero-height-dropped",
    ),
    pytest.param(
        voc(3, 3, ("n01440764", 1, 1, 2, 2)),
        [(0.3333, 0.3333, 0.6667, 0.6667)],
        id="four-decimals",
    ),
    pytest.param(
        voc(500, 375, ("n01440764", 0, 0, 250, 375), ("n01440764", 250, 75, 500, 300)),
        [(0.0, 0.0, 0.5, 1.0), (0.5, 0.2, 1.0, 0.8)],
        id="multiple-objects",
    ),
    pytest.param(
        # Slim's CSV is piped through `sort`: the rounded (xmin, ymin, xmax, ymax), not the XML order.
        voc(
            500,
            375,
            ("n01440764", 250, 75, 500, 300),
            ("n01440764", 0, 150, 250, 375),
            ("n01440764", 0, 0, 250, 375),
            ("n01440764", 0, 0, 200, 375),
        ),
        [(0.0, 0.0, 0.4, 1.0), (0.0, 0.0, 0.5, 1.0), (0.0, 0.4, 0.5, 1.0), (0.5, 0.2, 1.0, 0.8)],
        id="sorted-like-slims-csv",
    ),
    pytest.param(
        voc(500, 375, ("n01443537", 0, 0, 250, 375), ("n01440764", 250, 75, 500, 300)),
        [],
        id="first-name-foreign-challenge-wnid-drops-every-box",
    ),
    pytest.param(
        voc(500, 375, ("n01440764", 0, 0, 250, 375), ("n01443537", 250, 75, 500, 300)),
        [(0.0, 0.0, 0.5, 1.0), (0.5, 0.2, 1.0, 0.8)],
        id="only-the-first-name-counts",
    ),
    pytest.param(
        voc(500, 375, ("Scottish_deerhound", 50, 75, 450, 300)),
        [(0.1, 0.2, 0.9, 0.8)],
        id="human-name-kept",
    ),
    pytest.param(
        voc(500, 375, ("n99999999", 50, 75, 450, 300)),
        [(0.1, 0.2, 0.9, 0.8)],
        id="non-challenge-wnid-kept",
    ),
    pytest.param(
        voc(500, 375, ("n01440764", 50, 75, 450, 300), filename="%s"),
        [(0.1, 0.2, 0.9, 0.8)],
        id="percent-s-filename-ignored",
    ),
    pytest.param(voc(500, 375), [], id="no-objects"),
]


@pytest.mark.parametrize(("xml", "expected"), GOLDEN)
def test_golden_boxes(xml: bytes, expected: list[tuple[float, ...]]) -> None:
    assert slim_boxes(parse_annotation(xml), "n01440764", CHALLENGE) == expected


@pytest.mark.parametrize(
    ("member", "image"),
    [
        ("n01440764/n01440764_96.xml", "n01440764_96.JPEG"),
        ("./bbox/n02092002/n02092002_10026.xml", "n02092002_10026.JPEG"),
        ("val/ILSVRC2012_val_00000001.xml", "ILSVRC2012_val_00000001.JPEG"),
    ],
)
def test_image_name_is_the_xml_basename(member: str, image: str) -> None:
    assert image_name_for_xml(member) == image


def test_first_name_is_what_slim_reads() -> None:
    annotation = parse_annotation(
        voc(640, 480, ("Scottish_deerhound", 1, 2, 3, 4), ("n01440764", 5, 6, 7, 8))
    )
    assert (annotation.width, annotation.height, annotation.first_name) == (640, 480, "Scottish_deerhound")
    assert annotation.raw_boxes == ((1, 2, 3, 4), (5, 6, 7, 8))


def _in_thread(function: Any, seconds: float) -> Any:
    """Run ``function`` with a deadline: a parser that expands entities would hang or eat memory."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except Exception as error:  # noqa: BLE001 - the caller inspects whatever happened
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "parsing did not finish in time"
    return outcome


def test_billion_laughs_neither_hangs_nor_expands() -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE annotation [{entities}]>'
        "<annotation><size><width>10</width><height>10</height></size>"
        "<object><name>&lol9;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>"
        "</object></annotation>"
    ).encode()
    outcome = _in_thread(lambda: parse_annotation(xml), seconds=5)
    if "error" in outcome:
        assert isinstance(outcome["error"], BoxXMLError)
    else:
        assert "lol" not in outcome["value"].first_name


def test_external_entity_does_not_leak_a_local_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY leak SYSTEM "{secret.as_uri()}">]>'
        "<annotation><size><width>10</width><height>10</height></size>"
        "<object><name>&leak;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>"
        "</object></annotation>"
    ).encode()
    outcome = _in_thread(lambda: parse_annotation(xml), seconds=5)
    if "error" in outcome:
        assert isinstance(outcome["error"], BoxXMLError)
        assert "TOP-SECRET" not in str(outcome["error"])
    else:
        assert "TOP-SECRET" not in outcome["value"].first_name


def _xml_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_generator_boxes_follow_the_rules(mini_imagenet: Path, mini_expected: dict[str, Any]) -> None:
    """Every expected.json box list is what ``boxes.slim_boxes`` gives on the generated XML."""
    train = mini_expected["images"]["train"]
    challenge = {c["wnid"] for c in mini_expected["classes"]}
    with_xml, reordered = set(), 0
    for member, data in _xml_members(mini_imagenet / "ILSVRC2012_bbox_train_v2.tar.gz").items():
        name = image_name_for_xml(member)
        if name in train:
            with_xml.add(name)
            wnid = member.split("/")[0]
            annotation = parse_annotation(data)
            assert [list(b) for b in slim_boxes(annotation, wnid, challenge)] == train[name]["boxes"]
            assert train[name]["boxes"] == sorted(train[name]["boxes"])
            in_xml = [normalize_box(raw, annotation.width, annotation.height) for raw in annotation.raw_boxes]
            in_xml_order = [list(b) for b in in_xml if b is not None]
            reordered += bool(train[name]["boxes"]) and in_xml_order != train[name]["boxes"]
    assert with_xml and all(train[name]["boxes"] == [] for name in set(train) - with_xml)
    assert reordered, "some XML must list its boxes out of Slim's sorted order, or the order is untested"
    validation = mini_expected["images"]["validation"]
    val_xml = _xml_members(mini_imagenet / "ILSVRC2012_bbox_val_v3.tgz")
    assert {image_name_for_xml(m) for m in val_xml} == set(validation)
    for member, data in val_xml.items():
        entry = validation[image_name_for_xml(member)]
        assert entry["boxes"] == []
        boxes = slim_boxes(parse_annotation(data), entry["synset"], challenge)
        assert [list(b) for b in boxes] == entry["validation_boxes"]


def test_many_files_in_processes_give_what_one_process_gives() -> None:
    """Past one batch the XML goes to worker processes: same boxes, same errors, same order."""
    files = [
        (n, "n01440764", voc(500, 375, ("n01440764", n % 400, 10, 450, 300 + n % 70)) if n % 97 else b"<bad")
        for n in range(2 * boxes.BATCH + 17)
    ]
    here = list(boxes.slim_boxes_of_many(files, CHALLENGE, processes=1))
    there = list(boxes.slim_boxes_of_many(files, CHALLENGE, processes=2))
    assert [key for key, _ in there] == list(range(len(files)))
    assert [str(kept) if isinstance(kept, Exception) else kept for _, kept in there] == [
        str(kept) if isinstance(kept, Exception) else kept for _, kept in here
    ]
    assert sum(isinstance(kept, boxes.BoxXMLError) for _, kept in there) == 21
