"""Bad input gets one clear error line naming archive, member and remedy, and loses nothing.

Each case damages a generated download in one way, then plans and writes it in this process as ``run``
does (without Beam); a few cases, one for each way an error reaches the user, run the real CLI.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from imagenet_convert.format import filenames
from imagenet_convert.format.records import read_records
from imagenet_convert.inputs.archives import ArchiveError
from imagenet_convert.plan.build import build_plan
from imagenet_convert.plan.model import Plan, PlanError, class_table
from imagenet_convert.plan.store import load_saved, load_shard
from imagenet_convert.run.options import parse_args
from imagenet_convert.run.stages import ConversionError, write_shard
from imagenet_convert.run.survey import survey
from imagenet_convert.storage.output import OutputDir
from tests.support import damage
from tests.support.cli import convert, run_cli

REFUSED = (ArchiveError, PlanError, ConversionError)
"""What bad input raises; ``run`` prints it as its one error line."""


def plan_here(folder: Path, *extra: str) -> tuple[Plan, bool]:
    """What ``run`` plans for these options, in this process; and whether it skips bad images."""
    shards = ["--train-shards", "4", "--validation-shards", "2"]
    config = parse_args(["--input", str(folder), "--output", "unused", *shards, *extra])
    found = survey(config)
    return build_plan(found.layout, config.plan, found.inputs), config.plan.skip_bad_images


def convert_here(folder: Path, out: Path, *extra: str) -> None:
    """``run``'s planning and each worker's writing, in this process: raises what ``run`` prints."""
    plan, skip_bad = plan_here(folder, *extra)
    for shard in plan.shards:
        write_shard(OutputDir(str(out)), str(folder), shard, class_table(plan.classes), skip_bad)


def _first_image(folder: Path) -> bytes:
    return damage.read_entries(damage.read_entries((folder / damage.TRAIN).read_bytes())[0][1])[0][1]


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "GIF")
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return (
        b"\x89PNG\r\n\x1a\n" + ihdr + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    )


def _corrupt_second_inner_header(folder: Path) -> None:
    outer = damage.read_entries((folder / damage.TRAIN).read_bytes())
    info, data = outer[0]
    first_size = damage.read_entries(data)[0][0].size
    header = 512 + -(-first_size // 512) * 512
    outer[0] = (info, data[:header] + b"\x07" * 200 + data[header + 200 :])
    damage.replace(folder, damage.TRAIN, damage.pack(outer))


def _absurd_member_size(folder: Path) -> None:
    huge = damage.member("ILSVRC2012_val_00000099.JPEG")
    huge.size = 10**12
    data = (folder / damage.VAL).read_bytes().rstrip(b"\0")
    data = data + b"\0" * (-len(data) % 512)
    damage.replace(folder, damage.VAL, data + huge.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024)


def _ground_truth(edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        def change(entries: list[damage.Entry]) -> list[damage.Entry]:
            return [
                (info, ("\n".join(edit(data.decode().split())) + "\n").encode())
                if info.name.endswith("ground_truth.txt")
                else (info, data)
                for info, data in entries
            ]

        damage.edit_archive(folder, damage.DEVKIT, change)

    return apply


def _devkit_meta(data: bytes | None) -> Callable[[Path], None]:
    def change(entries: list[damage.Entry]) -> list[damage.Entry]:
        kept = [(i, d) for i, d in entries if not i.name.endswith("meta.mat")]
        return kept if data is None else [*kept, (damage.member("ILSVRC2012_devkit_t12/data/meta.mat"), data)]

    return lambda folder: damage.edit_archive(folder, damage.DEVKIT, change)


def _rename_first_class(folder: Path) -> None:
    outer = damage.read_entries((folder / damage.TRAIN).read_bytes())
    outer[0][0].name = "n99999999.tar"
    damage.replace(folder, damage.TRAIN, damage.pack(outer))


def _duplicate_across_classes(folder: Path) -> None:
    outer = damage.read_entries((folder / damage.TRAIN).read_bytes())
    name = damage.read_entries(outer[1][1])[0][0].name
    damage.edit_first_class(folder, damage.add_entry(damage.member(name), _first_image(folder)))


def _val(edit: damage.Edit) -> Callable[[Path], None]:
    return lambda folder: damage.edit_archive(folder, damage.VAL, edit)


def _image(data_of: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    return lambda folder: damage.edit_first_class(folder, damage.set_data(0, data_of(_first_image(folder))))


def _val_labels_disagreeing(folder: Path) -> None:
    path = folder / "imagenet_2012_validation_synset_labels.txt"
    lines = path.read_text().split()
    lines[2] = "n01440764" if lines[2] != "n01440764" else "n01443537"
    damage.replace(folder, path.name, ("\n".join(lines) + "\n").encode())


VAL_LABELS = ["--validation-labels", "{input}/imagenet_2012_validation_synset_labels.txt"]

CASES: dict[str, tuple[Callable[[Path], None], list[str], list[str]]] = {
    # name: (damage, extra CLI options, fragments the one error line must contain)
    "train-truncated-mid-inner": (
        lambda f: damage.truncate(f, damage.TRAIN, 0.5), [], [damage.TRAIN, "truncated", "re-download"],
    ),
    "inner-tar-corrupt": (_corrupt_second_inner_header, [], [damage.TRAIN + "/n", ".tar", "damaged"]),
    "val-truncated": (lambda f: damage.truncate(f, damage.VAL, 0.6), [], [damage.VAL, "truncated"]),
    "image-empty": (_image(lambda d: b""), [], [damage.TRAIN, "member n", "empty", "--skip-bad-images"]),
    "image-truncated": (_image(lambda d: d[: len(d) // 2]), [], [damage.TRAIN, "member n", "truncated"]),
    "image-not-an-image": (_image(lambda d: b"hello " * 99), [], [damage.TRAIN, "not an image"]),
    "image-unhandled-format": (_image(lambda d: _gif()), [], [damage.TRAIN, "GIF", "does not handle"]),
    "image-absurd-dimensions": (_image(lambda d: _png_claiming(100_000, 100_000)), [], ["absurd dimensions"]),
    "image-name-with-newline": (
        lambda f: damage.edit_first_class(f, damage.add_entry(damage.member("n0_9\n.JPEG"), b"x" * 99)),
        [], [damage.TRAIN, "member 'n0_9\\n.JPEG'", "not an image"],
    ),
    "devkit-without-meta": (_devkit_meta(None), [], [damage.DEVKIT, "meta.mat"]),
    "devkit-meta-unreadable": (_devkit_meta(b"MATLAB garbage" * 20), [], ["meta.mat", "unreadable"]),
    "ground-truth-short": (
        _ground_truth(lambda lines: lines[:-1]), [], ["ground truth has 5 lines", damage.VAL],
    ),
    "ground-truth-bad-id": (
        _ground_truth(lambda lines: ["999", *lines[1:]]), [], ["ground_truth.txt", "line 1", "'999'"],
    ),
    "validation-labels-disagree": (_val_labels_disagreeing, VAL_LABELS, ["line 3", "disagree"]),
    "class-not-in-devkit": (_rename_first_class, [], ["n99999999.tar", "not one of the", damage.DEVKIT]),
    "duplicate-image-name": (_duplicate_across_classes, [], [damage.TRAIN, "appears twice"]),
    "member-dot-dot": (
        _val(damage.add_entry(damage.member("../evil.JPEG"), b"x")), [], [damage.VAL, "../evil.JPEG"],
    ),
    "member-absolute": (
        _val(damage.add_entry(damage.member("/tmp/evil.JPEG"), b"x")), [], [damage.VAL, "/tmp/evil.JPEG"],
    ),
    "member-symlink": (
        _val(damage.add_entry(damage.member("l.JPEG", tarfile.SYMTYPE, "/etc"))), [], ["link or device"],
    ),
    "member-device": (
        _val(damage.add_entry(damage.member("dev.JPEG", tarfile.CHRTYPE))), [], ["link or device"],
    ),
    "member-absurd-size": (_absurd_member_size, [], [damage.VAL, "claims 1000000000000 bytes"]),
}  # fmt: skip


def _check_nothing_half_written(out: Path) -> None:
    """Every file under a final shard name is complete: its sha256 is its done-marker's (or, once the
    run finished and dropped the markers, the metadata's); a shard published just before its index or
    marker could not be written (a full disk) holds every planned record, each CRC intact."""
    info = out / filenames.INFO
    listed = json.loads(info.read_text())["splits"] if info.exists() else {}
    digests = {shard["name"]: shard["sha256"] for split in listed.values() for shard in split["shards"]}
    for shard in [*out.glob("train-*"), *out.glob("validation-*")]:
        marker = out / ".imagenet-convert" / "done" / f"{shard.name}.json"
        if marker.exists() or shard.name in digests:
            digest = json.loads(marker.read_text())["sha256"] if marker.exists() else digests[shard.name]
            assert hashlib.sha256(shard.read_bytes()).hexdigest() == digest, shard
        else:
            _check_complete_unmarked(OutputDir(str(out)), shard)


def _check_complete_unmarked(out: OutputDir, shard: Path) -> None:
    saved = load_saved(out)
    assert saved is not None, f"{shard} is published but the run has no plan"
    span = next(entry.plan_span for entry in saved.plan().shards if entry.name == shard.name)
    with shard.open("rb") as stream:
        assert sum(1 for _ in read_records(stream)) == len(load_shard(out, span).images), shard


def _damaged(case: str, source: Path, tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    """A copy of ``source`` spoilt as ``case`` says, the case's options and its message's fragments."""
    spoil, extra, fragments = CASES[case]
    folder = damage.clone(source, tmp_path / "in")
    spoil(folder)
    return folder, [arg.format(input=folder) for arg in extra], fragments


def _check_nothing_leaked(out: Path, tmp_path: Path) -> None:
    if out.exists():
        _check_nothing_half_written(out)
    assert not list(tmp_path.rglob("evil.JPEG")) and not (Path("/tmp") / "evil.JPEG").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_input_gives_one_clear_error(case: str, small_imagenet: Path, tmp_path: Path) -> None:
    folder, extra, fragments = _damaged(case, small_imagenet, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(REFUSED) as error:
        convert_here(folder, out, *extra)
    message = str(error.value)
    assert message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    _check_nothing_leaked(out, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    # An archive error while planning, a planning error, an image error in a Beam worker (its line goes
    # through the errors folder to the launcher), and a member that must never be extracted.
    ["train-truncated-mid-inner", "class-not-in-devkit", "image-truncated", "member-dot-dot"],
)
def test_the_cli_prints_the_one_error_line(case: str, small_imagenet: Path, tmp_path: Path) -> None:
    folder, extra, fragments = _damaged(case, small_imagenet, tmp_path)
    out = tmp_path / "out"
    result = convert(folder, out, "--workers", "1", *extra)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    _check_nothing_leaked(out, tmp_path)


@pytest.mark.slow
def test_bad_image_is_skipped_and_listed_with_skip_bad_images(small_imagenet: Path, tmp_path: Path) -> None:
    folder = damage.clone(small_imagenet, tmp_path / "in")
    damage.edit_first_class(folder, damage.set_data(0, b""))
    out = tmp_path / "out"
    result = convert(folder, out, "--workers", "1", "--skip-bad-images")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "run_report.json").read_text())
    assert [s["problem"] for s in report["skipped_images"]] == ["empty file"]
    info = json.loads((out / "imagenet_convert.json").read_text())
    expected = json.loads((small_imagenet / "expected.json").read_text())
    assert info["splits"]["train"]["num_examples"] == len(expected["images"]["train"]) - 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "input_kind, fragments",
    [
        ("missing", ["no such folder"]),
        ("empty", ["no such folder, or it is empty"]),
        (
            "wrong-names",
            ["no accepted layout", "ILSVRC2012_img_train.tar", "(found: train.tar)", "official names"],
        ),
    ],
)
def test_input_folder_problems(
    input_kind: str, fragments: list[str], small_imagenet: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    if input_kind != "missing":
        folder.mkdir()
    if input_kind == "wrong-names":
        (folder / "train.tar").write_bytes((small_imagenet / damage.TRAIN).read_bytes()[:10240])
    result = convert(folder, tmp_path / "out")
    assert result.returncode == 2, "--input names no ILSVRC2012 download: a usage error"
    assert all(fragment in result.stderr for fragment in fragments), result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_more_shards_than_images_is_a_usage_error(small_imagenet: Path, tmp_path: Path) -> None:
    result = convert(small_imagenet, tmp_path / "out", "--validation-shards", "1000")
    assert result.returncode == 2, result.stderr
    assert "1000 shards for 6 images would leave shards empty; use --validation-shards 6" in result.stderr


@pytest.mark.slow
def test_output_not_writable(small_imagenet: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = convert(small_imagenet, blocker / "out")
    assert result.returncode == 2, "--output names a place that cannot be written: a usage error"
    assert "not writable" in result.stderr and "--output" in result.stderr


def _spoil_one_xml(text: bytes) -> Callable[[Path], None]:
    def change(entries: list[damage.Entry]) -> list[damage.Entry]:
        index = next(i for i, (info, _) in enumerate(entries) if info.name.endswith(".xml"))
        entries[index] = (entries[index][0], text)
        return entries

    return lambda folder: damage.edit_archive(folder, damage.TRAIN_BOXES, change)


XML_CASES = {
    "malformed": b"<annotation><object><name>n01440764</name>",
    "missing-tags": b"<annotation><size><width>10</width><height>10</height></size>"
    b"<object><name>x</name><bndbox><xmin>1</xmin></bndbox></object></annotation>",
    "non-numeric": b"<annotation><size><width>10</width><height>10</height></size><object><name>x</name>"
    b"<bndbox><xmin>a</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>",
}


@pytest.mark.parametrize("case", sorted(XML_CASES))
def test_bad_xml_is_skipped_with_a_warning_or_fatal_with_strict(
    case: str, small_imagenet: Path, tmp_path: Path
) -> None:
    folder = damage.clone(small_imagenet, tmp_path / "in")
    _spoil_one_xml(XML_CASES[case])(folder)
    with pytest.raises(PlanError, match="--strict") as strict:
        plan_here(folder, "--strict")
    assert damage.TRAIN_BOXES in str(strict.value)
    plan, _ = plan_here(folder)
    assert any(".xml" in warning for warning in plan.warnings)
    assert plan.counts["xml_skipped"] == 1


@pytest.mark.slow
def test_the_cli_warns_of_a_bad_xml_or_stops_with_strict(small_imagenet: Path, tmp_path: Path) -> None:
    folder = damage.clone(small_imagenet, tmp_path / "in")
    _spoil_one_xml(XML_CASES["malformed"])(folder)
    strict = run_cli("run", "--input", folder, "--output", tmp_path / "strict", "--strict", "--dry-run")
    assert strict.returncode == 1 and damage.TRAIN_BOXES in strict.stderr and "--strict" in strict.stderr
    result = convert(folder, tmp_path / "out", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and ".xml" in result.stderr
    report = json.loads((tmp_path / "out" / "run_report.json").read_text())
    assert report["plan_counts"]["xml_skipped"] == 1


@pytest.mark.slow
def test_hostile_xml_neither_hangs_nor_leaks(small_imagenet: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    hostile = (
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l0 "lol">{laughs}'
        f'<!ENTITY leak SYSTEM "file://{secret}">]><annotation><size><width>9</width><height>9</height></size>'
        "<object><name>&leak;&l9;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>"
        "</bndbox></object></annotation>"
    ).encode()
    folder = damage.clone(small_imagenet, tmp_path / "in")
    _spoil_one_xml(hostile)(folder)
    result = run_cli(
        "run",
        "--input",
        folder,
        "--output",
        tmp_path / "out",
        "--train-shards",
        "2",
        "--validation-shards",
        "1",
        "--workers",
        "1",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert b"TOP-SECRET" not in path.read_bytes(), path
