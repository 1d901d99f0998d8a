"""The command line on bad input in the folder and ZIP layouts: one line and exit 1 or 2, or the promised
skip; bounded time and memory; nothing written but the output (test_bad_layouts.py runs every case
inside the test process; these are the cases where the command's own process is what is checked)."""

from __future__ import annotations

import json
import os
import subprocess
import zlib
from pathlib import Path

import pytest

from imagenet_convert.inputs.layouts.kaggle import KAGGLE_ZIP
from tests.support import damage
from tests.support.cli import convert, output_files, run_cli, run_cli_measured
from tests.test_bad_input import _check_nothing_half_written
from tests.test_bad_layouts import GB, KAGGLE_CASES, copy_of, expected_labels, untouched

pytestmark = pytest.mark.slow

SHARDS = ("--train-shards", "4", "--validation-shards", "2", "--workers", "1")


def _one_error_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _report(out: Path) -> dict:
    return json.loads((out / "run_report.json").read_text())


def _bombs(entries: list[damage.ZipEntry]) -> list[damage.ZipEntry]:
    """Two train images become 4 GB of zeros (one declares it, one claims 60 KB), and a validation
    image's stored bytes are damaged."""
    bomb = damage.zeros_deflated(4096)
    train = [i for i, e in enumerate(entries) if "/train/" in e.name and e.name.endswith(".JPEG")]
    entries[train[0]] = entries[train[0]]._replace(raw=bomb, method=8, size=4 * GB, crc=0)
    entries[train[1]] = entries[train[1]]._replace(raw=bomb, method=8, size=60_000, crc=0)
    val = next(i for i, e in enumerate(entries) if "/val/" in e.name and e.method == 0)
    raw = entries[val].raw
    entries[val] = entries[val]._replace(raw=raw[:-10] + bytes(10))
    assert zlib.crc32(entries[val].raw) != entries[val].crc
    return entries


def test_zip_bombs_and_damage_stay_bounded_and_are_skipped_when_asked(small_layout, tmp_path: Path) -> None:
    folder = copy_of(small_layout, "kaggle-zip", tmp_path)
    archive = folder / KAGGLE_ZIP
    entries = _bombs(damage.zip_entries(archive))
    archive.unlink()
    damage.write_zip(archive, entries)
    with untouched(tmp_path):
        refused, refused_peak = run_cli_measured(
            "run", "--input", folder, "--output", tmp_path / "out", *SHARDS
        )
        skipping, skipping_peak = run_cli_measured(
            "run", "--input", folder, "--output", tmp_path / "out-skipping", *SHARDS, "--skip-bad-images"
        )
    line = _one_error_line(refused, 1)
    assert f"{KAGGLE_ZIP}: member ILSVRC/Data/CLS-LOC/train/" in line and "4,294,967,296 bytes" in line
    assert skipping.returncode == 0, skipping.stderr
    problems = sorted(entry["problem"] for entry in _report(tmp_path / "out-skipping")["skipped_images"])
    assert len(problems) == 3, problems
    assert "4,294,967,296 bytes" in problems[0] and "inflates to more than the 60,000 bytes" in problems[1]
    assert "CRC-32" in problems[2]
    info = json.loads((tmp_path / "out-skipping" / "imagenet_convert.json").read_text())
    for split, left_out in (("train", 2), ("validation", 1)):
        assert info["splits"][split]["num_examples"] == len(expected_labels(folder, split)) - left_out
    assert max(refused_peak, skipping_peak) < GB, (refused_peak, skipping_peak)


def test_a_bad_kaggle_csv_stops_the_command_with_one_line(small_layout, tmp_path: Path) -> None:
    spoil, fragments = KAGGLE_CASES["solution-id-twice"]
    folder = copy_of(small_layout, "kaggle-tree", tmp_path)
    spoil(folder)
    with untouched(tmp_path):
        result = run_cli("run", "--input", folder, "--output", tmp_path / "out", *SHARDS, timeout=60)
    line = _one_error_line(result, 1)
    for fragment in fragments:
        assert fragment in line, line


def test_skip_bad_images_resumes_a_run_a_bad_image_stopped(small_layout, tmp_path: Path) -> None:
    """What the stop's line suggests works in the same folder, and gives the bytes of a fresh run."""
    folder = copy_of(small_layout, "extracted", tmp_path)
    image = next(sorted(p for p in (folder / "train").iterdir() if p.is_dir())[0].glob("*.JPEG"))
    damage.rewrite(image, image.read_bytes()[: image.stat().st_size // 2])
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    with untouched(tmp_path, "out", "fresh"):
        line = _one_error_line(convert(folder, out, "--workers", "1"), 1)
        assert image.name in line and "pass --skip-bad-images" in line
        _check_nothing_half_written(out)
        resumed = convert(folder, out, "--workers", "1", "--skip-bad-images")
        assert resumed.returncode == 0, resumed.stderr
        assert convert(folder, fresh, "--workers", "1", "--skip-bad-images").returncode == 0
    assert [entry["image"] for entry in _report(out)["skipped_images"]] == [image.name]
    assert output_files(out) == output_files(fresh)


@pytest.mark.parametrize("case", ["output-is-input", "fifo-labels", "fifo-zip"])
def test_a_command_line_naming_the_wrong_thing_is_a_usage_error(
    case: str, small_layout, tmp_path: Path
) -> None:
    folder = copy_of(small_layout, "extracted", tmp_path)
    os.mkfifo(tmp_path / "labels.txt")
    os.mkfifo(tmp_path / KAGGLE_ZIP)
    args = {
        "output-is-input": (folder, f"{folder}/./"),
        "fifo-labels": (folder, tmp_path / "out", "--validation-labels", tmp_path / "labels.txt"),
        "fifo-zip": (tmp_path / KAGGLE_ZIP, tmp_path / "out"),
    }[case]
    fragments = {
        "output-is-input": ["--output is the --input folder", "inside --input is fine"],
        "fifo-labels": ["labels.txt: the --validation-labels file is a FIFO (named pipe)"],
        "fifo-zip": [f"{KAGGLE_ZIP}: a FIFO (named pipe), not a regular file", "--input takes"],
    }[case]
    with untouched(tmp_path):
        result = run_cli("run", "--input", args[0], "--output", args[1], *args[2:], *SHARDS, timeout=60)
    line = _one_error_line(result, 2)
    for fragment in fragments:
        assert fragment in line, line


def _hostile_tree(folder: Path) -> dict[str, str]:
    """A FIFO named like box XML, names not UTF-8 or with a newline, a link out of the input: how
    each is listed once skipped (links: the link's path)."""
    class_folder = sorted(p for p in (folder / "train").iterdir() if p.is_dir())[0]
    os.mkfifo(class_folder / f"{class_folder.name}_9.xml")
    (Path(os.fsdecode(bytes(class_folder) + b"/caf\xe9.JPEG"))).write_bytes(b"x")
    (class_folder / "two\nlines.JPEG").write_bytes(b"x")
    image = next(class_folder.glob("*.JPEG"))
    outside = folder.parent / "outside.JPEG"
    os.link(image, outside)
    image.unlink()
    image.symlink_to(outside)
    prefix = f"train/{class_folder.name}/"
    return {
        "fifo": f"{prefix}{class_folder.name}_9.xml",
        "not-utf8": f"'{prefix}caf\\xe9.JPEG'",
        "newline": f"'{prefix}two\\nlines.JPEG'",
        "link": f"{prefix}{image.name}",
    }


def test_a_hostile_tree_neither_hangs_nor_breaks_and_resumes_with_its_output_inside(
    small_layout, tmp_path: Path
) -> None:
    """The output inside the input (/data/imagenet/tfrecords) is left out of the input's listing."""
    folder = copy_of(small_layout, "extracted", tmp_path)
    listed = _hostile_tree(folder)
    out = folder / "tfrecords"
    out.mkdir()  # before the snapshot: its creation is the input folder's only change
    strict_stdout = {"PYTHONIOENCODING": "utf-8"}  # a name printed as it is would raise, not pass
    with untouched(tmp_path, "in/tfrecords"):
        refused = run_cli("run", "--input", folder, "--output", out, *SHARDS, timeout=120, env=strict_stdout)
        line = _one_error_line(refused, 1)
        assert line.startswith(f"error: {listed['fifo']}: a FIFO (named pipe), not a regular file"), line
        done = convert(folder, out, "--workers", "1", "--skip-bad-images", env=strict_stdout)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        again = convert(folder, out, "--workers", "1", "--skip-bad-images", env=strict_stdout)
    assert "this conversion is complete and its inputs are unchanged" in again.stdout, (
        again.stdout + again.stderr
    )
    report = _report(out)
    assert sorted(entry["image"] for entry in report["skipped_images"]) == sorted(
        listed[case] for case in ("fifo", "not-utf8", "newline")
    )
    assert report["links_outside_input"] == [
        {"link": listed["link"], "target": str(folder.parent / "outside.JPEG")}
    ]
    info = json.loads((out / "imagenet_convert.json").read_text())
    assert info["splits"]["train"]["num_examples"] == len(expected_labels(folder, "train"))
