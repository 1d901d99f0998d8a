"""``show``: the contact sheet of the converted miniature decodes, has its grid, and shows the boxes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from imagenet_convert import show
from imagenet_convert.__main__ import main as cli

pytestmark = pytest.mark.slow  # reads the session's conversion


def test_sheet_has_its_grid_and_box_outlines(converted: Path, tmp_path: Path) -> None:
    sheet = show.show(str(converted), "train", 10, str(tmp_path / "a.png"))
    with Image.open(tmp_path / "a.png") as image:
        image.load()
        assert image.format == "PNG" and image.mode == "RGB"
        assert show.grid(10) == (4, 3) and image.size == (4 * show.CELL[0], 3 * show.CELL[1])
        assert sheet.records == 10 and sheet.boxes, "the miniature's train images have boxes"
        for left, top, right, bottom in sheet.boxes:
            edges = [(x, y) for x in range(left, right + 1) for y in (top, bottom)]
            edges += [(x, y) for y in range(top, bottom + 1) for x in (left, right)]
            assert {image.getpixel(point) for point in edges} == {show.BOX_COLOUR}
    older = tmp_path / "older"  # a folder converted before index files: the same records, read in order
    shutil.copytree(converted, older, ignore=shutil.ignore_patterns("index"))
    show.show(str(older), "train", 10, str(tmp_path / "b.png"))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_records_are_spread_over_every_shard_and_within_each() -> None:
    assert show.positions([3, 3, 3, 3], 4) == {0: [1], 1: [1], 2: [1], 3: [1]}
    assert show.positions([5, 4], 3) == {0: [1, 4], 1: [2]}
    assert show.positions([2], 5) == {0: [0, 1]}


def test_one_class(converted: Path, mini_expected, tmp_path: Path) -> None:
    wnid = mini_expected["classes"][0]["wnid"]
    want = sum(e["synset"] == wnid for e in mini_expected["images"]["validation"].values())
    sheet = show.show(str(converted), "validation", 36, str(tmp_path / "one.png"), wnid)
    assert sheet.records == want
    assert cli(["show", str(converted), "--class", "n00000000", "--output", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


def test_default_sheet_is_written_here_but_never_inside_the_output(
    converted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli(["show", str(converted), "--split", "validation", "--count", "4"]) == 0
    assert Image.open(tmp_path / "validation-sheet.png").size == (2 * show.CELL[0], 2 * show.CELL[1])
    monkeypatch.chdir(converted)
    assert cli(["show", "."]) == 2
    assert "Slim's <split>-* patterns would read it" in capsys.readouterr().err
    assert not (converted / "train-sheet.png").exists()
