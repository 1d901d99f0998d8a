"""End to end: every input layout of one generated set converts to the official layout's bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagenet_convert.format import filenames
from tests.support.cli import convert, output_files, run_cli
from tests.support.damage import link_tree

pytestmark = pytest.mark.slow

LAYOUTS = ("extracted", "valprep", "kaggle-tree", "kaggle-zip")
INPUT_KEYS = {"inputs", "fingerprint"}
"""The only imagenet_convert.json entries that describe the input rather than the data."""


@pytest.fixture(scope="module")
def official(converted: Path) -> Path:
    """The official archives' conversion (the session's: the number of workers does not show)."""
    return converted


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_gives_the_official_bytes(
    layout: str, mini_layout, official: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = convert(mini_layout(layout), out, "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert f"input layout: {layout}" in result.stdout
    got, want = output_files(out), output_files(official)
    assert sorted(got) == sorted(want)
    for name in want:
        if name != filenames.INFO:
            assert got[name] == want[name], name
    info, reference = (json.loads(files[filenames.INFO]) for files in (got, want))
    assert {k: v for k, v in info.items() if k not in INPUT_KEYS} == {
        k: v for k, v in reference.items() if k not in INPUT_KEYS
    }
    assert info["inputs"]["layout"] == layout
    again = convert(mini_layout(layout), out, "--workers", "1")  # the listing is fingerprinted alike
    assert again.returncode == 0, again.stderr
    assert "this conversion is complete and its inputs are unchanged" in again.stdout
    assert output_files(out) == got
    checked = run_cli("verify", out, "--check-archives", mini_layout(layout), "--workers", "1")
    assert (
        "no official checksum (the official sizes and md5 sums are those of the five archives"
        in checked.stdout
    )
    assert " not in " not in checked.stdout  # the archives this layout does not have are not missed
    problems = [line for line in checked.stdout.splitlines() if line.startswith("  ") and line[2] != " "]
    assert all("differs from the official ILSVRC2012 download" in line for line in problems), checked.stdout
    assert checked.returncode == (1 if layout == "extracted" else 0), checked.stdout  # its devkit is a fake


def test_verify_notices_a_changed_folder(mini_layout, tmp_path: Path) -> None:
    folder = link_tree(mini_layout("kaggle-tree"), tmp_path / "in")
    result = convert(folder, tmp_path / "out", "--workers", "1", "--splits", "validation")
    assert result.returncode == 0, result.stderr
    image = next((folder / "ILSVRC/Data/CLS-LOC/val").glob("*.JPEG"))
    image.unlink()
    image.write_bytes(b"\xff\xd8")
    checked = run_cli("verify", tmp_path / "out", "--check-archives", folder, "--workers", "1")
    assert checked.returncode == 1
    assert "folders: " in checked.stdout and "now, but this output was converted from" in checked.stdout


def test_junk_is_counted_and_bad_files_listed(mini_layout, tmp_path: Path) -> None:
    folder = link_tree(mini_layout("extracted"), tmp_path / "in")
    class_folder = sorted(p for p in (folder / "train").iterdir() if p.is_dir())[0]
    (class_folder / f"{class_folder.name}_1.JPEG.part").write_bytes(b"half")
    refused = convert(folder, tmp_path / "refused", "--workers", "1")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: train/{class_folder.name}/{class_folder.name}_1.JPEG.part: a partial download (*.part); "
        "remove or fix it, or pass --skip-bad-images to leave it out (listed in run_report.json)"
    ]
    result = convert(folder, tmp_path / "out", "--workers", "1", "--skip-bad-images")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "run_report.json").read_text())
    assert report["plan_counts"]["junk_skipped"] == 5
    assert report["skipped_images"] == [
        {
            "image": f"train/{class_folder.name}/{class_folder.name}_1.JPEG.part",
            "problem": "a partial download (*.part)",
        }
    ]


def test_an_image_rewritten_in_place_is_refused_by_name(mini_layout, tmp_path: Path) -> None:
    """Same size, so the listing's digest cannot tell: the newest modification time does."""
    folder = link_tree(mini_layout("extracted"), tmp_path / "in")
    options = ("--workers", "1", "--splits", "validation")
    assert convert(folder, tmp_path / "out", *options).returncode == 0
    image = sorted((folder / "val").glob("*.JPEG"))[3]
    data = image.read_bytes()
    image.unlink()
    image.write_bytes(data)  # a plain copy in place of the link: only its time differs
    refused = convert(folder, tmp_path / "out", *options)
    assert refused.returncode == 1
    assert f"{folder}/val/{image.name} (the newest file of the input folders) was modified" in refused.stderr
    accepted = convert(folder, tmp_path / "out", *options, "--accept-changed-inputs")
    assert accepted.returncode == 0, accepted.stderr
    assert "this conversion is complete and its inputs are unchanged" in accepted.stdout
