"""``verify`` on small real output folders: a good one passes, and each kind of damage is found and named.

The folders are written as the converter writes them: records from ``SlimRecord``, TFRecord framing
from ``records.frame``, and labels.txt / imagenet_convert.json by the converter's own ``write_metadata``
from per-shard markers, so a change to that format shows up here.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections import Counter
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path

import pytest
from PIL import Image

from imagenet_convert.__main__ import main as cli
from imagenet_convert.format import filenames
from imagenet_convert.format.index import index_bytes
from imagenet_convert.format.records import Example, SlimRecord, frame
from imagenet_convert.inputs.devkit import Synset
from imagenet_convert.inputs.layouts.official import ARCHIVES
from imagenet_convert.plan.model import Plan, PlanOptions, Shard
from imagenet_convert.run.finish import write_metadata
from imagenet_convert.run.markers import ShardMarker, write_marker
from imagenet_convert.run.report import RunReport
from imagenet_convert.storage.output import OutputDir
from tests.support.cli import run_cli

CLASSES = [
    Synset(12, "n01000001", "alpha, first class"),
    Synset(3, "n01000002", "beta"),
    Synset(7, "n01000003", "gamma: with a colon"),
]
Records = dict[str, list[SlimRecord | bytes]]


def _jpeg(width: int, height: int, shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 255 - shade, 90)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def record(label: int, number: int, boxes: list | None = None, **changes: object) -> SlimRecord:
    """A valid Slim record of class ``label`` (a real JPEG); ``changes`` overrides fields."""
    synset = CLASSES[(label - 1) % len(CLASSES)]
    width, height = 24 + number, 16 + label
    fields = {
        "encoded": _jpeg(width, height, 40 * label + number),
        "filename": f"{synset.wnid}_{number}.JPEG",
        "height": height,
        "width": width,
        "label": label,
        "synset": synset.wnid,
        "text": synset.words,
        "boxes": boxes or [],
    }
    return SlimRecord(**{**fields, **changes})


def edited(base: SlimRecord, key: str, kind: str | None, values: list) -> bytes:
    """``base`` serialized with one feature replaced (kind None: the key removed)."""
    example = Example.FromString(base.to_example_bytes())
    if key in example.features.feature:
        del example.features.feature[key]
    if kind:
        getattr(example.features.feature[key], kind).value.extend(values)
    return example.SerializeToString(deterministic=True)


def sample_shards() -> Records:
    """Two train shards and one validation shard, with boxes on some train images."""
    return {
        "train-00000-of-00002": [
            record(1, 10, [(0.1, 0.2, 0.5, 0.6), (0.0, 0.0, 1.0, 1.0)]),
            record(2, 11),
            record(3, 12),
        ],
        "train-00001-of-00002": [record(1, 13, [(0.25, 0.25, 0.75, 0.75)]), record(2, 14)],
        "validation-00000-of-00001": [record(1, 1), record(3, 2)],
    }


def build(folder: Path, shards: Records) -> Path:
    """Write the shards and their markers as the Beam workers do, then the converter's metadata."""
    out = OutputDir(str(folder))
    for name, records in shards.items():
        framed = [frame(r if isinstance(r, bytes) else r.to_example_bytes()) for r in records]
        data = b"".join(framed)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        spans = [(end - len(f), len(f)) for f, end in zip(framed, accumulate(map(len, framed)), strict=True)]
        out.write_atomic(out.path(filenames.index_file(name)), index_bytes(spans))
        parsed = [r for r in records if isinstance(r, SlimRecord)]
        marker = ShardMarker(
            name=name,
            split=name.split("-")[0],
            num_records=len(records),
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            class_counts=dict(Counter(r.label for r in parsed)),
            stats={"boxes": sum(len(r.boxes) for r in parsed)},
        )
        write_marker(out, marker)
    plan = Plan(
        fingerprint="0" * 64,
        options=PlanOptions(train_shards=2, validation_shards=1),
        inputs={ARCHIVES["train"]: 10240, ARCHIVES["validation"]: 10240, ARCHIVES["devkit"]: 2048},
        classes=CLASSES,
        shards=[Shard(name, name.split("-")[0], []) for name in shards],
    )
    write_metadata(out, plan, RunReport())
    return folder


def edit_info(folder: Path, change: Callable[[dict], None]) -> None:
    info = json.loads((folder / "imagenet_convert.json").read_text())
    change(info)
    (folder / "imagenet_convert.json").write_text(json.dumps(info))


def verify(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = cli(["verify", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return build(tmp_path / "out", sample_shards())


# ---------------------------------------------------------------------------------------------
# A good folder


@pytest.mark.parametrize("decode", [False, True])
def test_good_folder_passes(good: Path, capsys: pytest.CaptureFixture[str], decode: bool) -> None:
    code, text = verify(capsys, good, "--workers", "1", *(["--decode"] if decode else []))
    assert code == 0, text
    assert "train: 2/2 shards ok, 5 records, 3 classes, 3 boxes, 0 problems" in text
    assert "validation: 1/1 shard ok, 2 records, 2 classes, 0 boxes, 0 problems" in text
    assert "labels.txt: 4 lines" in text
    assert "TFDS metadata: dataset_info.json, features.json, image-class-label.labels.txt" in text
    assert text.rstrip().endswith("OK: every check passed")


def test_metadata_under_its_old_name_is_still_read(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (good / filenames.INFO).replace(good / filenames.LEGACY_INFO)
    code, text = verify(capsys, good, "--workers", "1")
    assert code == 0, text


@pytest.mark.slow
def test_real_cli_decodes_in_worker_processes(good: Path) -> None:
    result = run_cli("verify", good, "--decode", "--workers", "2", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: every check passed" in result.stdout


# ---------------------------------------------------------------------------------------------
# Damaged shards and metadata


def test_flipped_byte_is_a_crc_error(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = good / "train-00000-of-00002"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    code, text = verify(capsys, good)
    assert code == 1
    assert "train-00000-of-00002: record 1: data CRC mismatch; the records after it cannot be read" in text
    assert "train-00000-of-00002: sha256 " in text
    assert "class counts not checked: 1 shard missing or unreadable" in text


def test_missing_shard(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (good / "train-00001-of-00002").unlink()
    code, text = verify(capsys, good)
    assert code == 1
    assert "train-00001-of-00002: listed in imagenet_convert.json but missing" in text
    assert "train: 1/2 shards ok" in text


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.unlink(), "missing or unreadable; DALI reads by it"),
        (lambda path: path.write_text("0 100\n"), "line 1 says 0 100, but record 0 is at 0 "),
        (lambda path: path.write_text(path.read_text().splitlines()[0] + "\n"), "1 lines for 2 records"),
        (lambda path: path.write_text("zero\n"), "line 1 is 'zero', not '<offset> <length>'"),
    ],
)
def test_index_file_must_list_the_shards_records(
    good: Path, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], None], message: str
) -> None:
    damage(good / filenames.index_file("train-00001-of-00002"))
    code, text = verify(capsys, good)
    assert code == 1 and f"index/train-00001-of-00002.idx: {message}" in text
    assert "train: 1/2 shards ok" in text


def _replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda good: (good / filenames.TFDS_FEATURES).unlink(), "features.json: missing or unreadable"),
        (
            lambda good: _replace(good / filenames.TFDS_INFO, '"3"', '"4"'),  # a shard length
            "dataset_info.json: differs from what imagenet_convert.json says",
        ),
        (
            lambda good: _replace(good / filenames.TFDS_CLASS_NAMES, "n01000002", "n01000009"),
            "image-class-label.labels.txt: line 3 is 'n01000009', but label 2 is n01000002",
        ),
        (
            lambda good: _replace(good / filenames.TFDS_CLASS_NAMES, "n01000002", "n01000001"),
            "image-class-label.labels.txt: is not 'background' then 3 distinct WNIDs",
        ),
    ],
)
def test_tfds_metadata_must_agree(
    good: Path, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], None], message: str
) -> None:
    damage(good)
    code, text = verify(capsys, good)
    assert code == 1 and message in text, text


def test_extra_shard(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(good / "train-00000-of-00002", good / "train-00000-of-00001")  # left by an older run
    code, text = verify(capsys, good)
    assert code == 1
    assert "train-00000-of-00001: not listed in imagenet_convert.json" in text
    assert "FAILED: 1 problem" in text


def test_wrong_record_count(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_info(good, lambda info: info["splits"]["validation"]["shards"][0].update(num_records=3))
    code, text = verify(capsys, good)
    assert code == 1
    assert "validation-00000-of-00001: 2 records, imagenet_convert.json says 3" in text
    assert "validation: num_examples is 2, its shards hold 3" in text


def test_wrong_sha256(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_info(good, lambda info: info["splits"]["train"]["shards"][1].update(sha256="0" * 64))
    code, text = verify(capsys, good)
    assert code == 1
    assert f"train-00001-of-00002: sha256 {'0' * 64}" not in text
    assert f"differs from imagenet_convert.json's {'0' * 64}" in text
    assert "FAILED: 1 problem" in text


def test_class_count_mismatch(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def move_one(info: dict) -> None:
        counts = info["splits"]["train"]["class_counts"]
        counts["1"], counts["2"] = counts["1"] - 1, counts["2"] + 1

    edit_info(good, move_one)
    code, text = verify(capsys, good)
    assert code == 1
    assert "train: class 1: 2 records, imagenet_convert.json says 1" in text
    assert "train: class 2: 2 records, imagenet_convert.json says 3" in text


def test_labels_txt_must_match_num_classes(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (good / "labels.txt").read_text().splitlines()
    (good / "labels.txt").write_text("\n".join(lines[:-1]) + "\n")
    code, text = verify(capsys, good)
    assert code == 1
    assert "labels.txt: 3 lines, but num_classes is 4" in text


# ---------------------------------------------------------------------------------------------
# Records that frame correctly but are not Slim's format


def test_label_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shards = sample_shards()
    shards["validation-00000-of-00001"][1] = record(4, 2)
    code, text = verify(capsys, build(tmp_path, shards))
    assert code == 1
    assert "validation-00000-of-00001: record 1: label 4 is outside 1..3" in text


BASE = record(2, 5, [(0.1, 0.1, 0.9, 0.9)])
FORMAT_PROBLEMS = {
    "format": (edited(BASE, "image/format", "bytes_list", [b"PNG"]), "image/format is b'PNG', Slim's format"),
    "channels": (
        edited(BASE, "image/channels", "int64_list", [1]),
        "image/channels is 1, Slim's format has 3",
    ),
    "missing key": (edited(BASE, "image/class/text", None, []), "missing key image/class/text"),
    "wrong type": (edited(BASE, "image/height", "float_list", [17.0]), "image/height is a float_list"),
    "box label": (edited(BASE, "image/object/bbox/label", "int64_list", [1]), "is not the image label 2"),
    "box lengths": (edited(BASE, "image/object/bbox/ymax", "float_list", []), "box lists have different"),
    "extra key": (edited(BASE, "image/extra", "int64_list", [1]), "unexpected key image/extra"),
    "inverted box": (record(2, 5, [(0.6, 0.1, 0.2, 0.9)]).to_example_bytes(), "is empty or inverted"),
    "box past 1": (record(2, 5, [(0.1, 0.1, 1.5, 0.9)]).to_example_bytes(), "is not within [0, 1]"),
    "text": (record(2, 5, text="wrong").to_example_bytes(), "b'wrong' differs from labels.txt's 'beta'"),
    "not an example": (b"\x0a\x05junk", "not a tf.train.Example"),
}


@pytest.mark.parametrize("case", FORMAT_PROBLEMS)
def test_record_format_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    damaged, message = FORMAT_PROBLEMS[case]
    shards = sample_shards()
    shards["train-00001-of-00002"][1] = damaged
    code, text = verify(capsys, build(tmp_path, shards))
    assert code == 1
    problem = next(line for line in text.splitlines() if "train-00001-of-00002: record 1: " in line)
    assert message in problem


def test_synset_must_stay_with_its_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shards = sample_shards()
    shards["validation-00000-of-00001"][0] = record(1, 1, synset="n09999999")
    code, text = verify(capsys, build(tmp_path, shards))
    assert code == 1
    assert "label 1 has synset" in text


def test_undecodable_image_is_found_only_with_decode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shards = sample_shards()
    truncated = record(2, 11)
    truncated.encoded = truncated.encoded[: len(truncated.encoded) // 2]  # CRC-valid: written that way
    shards["train-00000-of-00002"][1] = truncated
    folder = build(tmp_path, shards)
    assert verify(capsys, folder)[0] == 0
    code, text = verify(capsys, folder, "--decode", "--workers", "1")
    assert code == 1
    assert "train-00000-of-00002: record 1: image/encoded does not decode" in text


def test_decoded_size_must_match_the_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shards = sample_shards()
    shards["train-00000-of-00002"][2] = record(3, 12, height=99)
    code, text = verify(capsys, build(tmp_path, shards), "--decode")
    assert code == 1
    assert "record 2: image decodes to 36x19, but the record says 36x99" in text


def test_problem_list_is_capped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shards = sample_shards()
    shards["train-00000-of-00002"] = [record(9, n, synset="n09000009") for n in range(6)]
    code, text = verify(capsys, build(tmp_path, shards), "--max-problems", "2")
    assert code == 1
    assert "FAILED: 6 problems" in text
    assert "... and 4 more (raise --max-problems to list them)" in text


# ---------------------------------------------------------------------------------------------
# Input archives and usage errors


def test_fake_archives_differ_from_the_official_ones(good: Path, tmp_path: Path, capsys) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for name, size in ((ARCHIVES["train"], 10240), (ARCHIVES["devkit"], 2048), (ARCHIVES["train_boxes"], 99)):
        (downloads / name).write_bytes(b"x" * size)
    code, text = verify(capsys, good, "--check-archives", downloads)
    assert code == 1
    md5 = hashlib.md5(b"x" * 2048).hexdigest()
    assert f"{ARCHIVES['devkit']}: DIFFERS from the official file: md5 {md5}, official fa75699e" in text
    assert (
        f"{ARCHIVES['train']}: DIFFERS from the official file: 10,240 bytes, official 147,897,477,120" in text
    )
    assert f"{ARCHIVES['train_boxes']}: no official checksum to compare (99 bytes)" in text
    assert f"{ARCHIVES['validation']}: not in {downloads}" in text
    assert "FAILED: 2 problems" in text  # train and devkit; the shards themselves are fine


def test_archive_of_another_size_than_the_converted_one(good: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / ARCHIVES["validation"]).write_bytes(b"v" * 100)
    code, text = verify(capsys, good, "--check-archives", tmp_path)
    assert code == 1
    assert (
        f"{ARCHIVES['validation']}: 100 bytes, but this output was converted from a 10240-byte file" in text
    )


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda folder: shutil.rmtree(folder), "no such folder"),
        (lambda folder: [p.unlink() for p in folder.iterdir() if p.is_file()], "imagenet_convert.json: not"),
        (lambda folder: (folder / "imagenet_convert.json").write_text("{"), "cannot be read as JSON"),
        (lambda folder: (folder / "imagenet_convert.json").write_text("{}"), "missing num_classes"),
    ],
)
def test_nothing_to_verify_is_one_line_and_exit_2(
    good: Path, capsys: pytest.CaptureFixture[str], prepare: Callable[[Path], None], message: str
) -> None:
    prepare(good)
    code = cli(["verify", str(good)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_check_archives_without_archives_is_exit_2(good: Path, tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(["verify", str(good), "--check-archives", str(empty)]) == 2
    assert "holds none of ILSVRC2012_img_train.tar" in capsys.readouterr().err
    assert cli(["verify", str(good), "--check-archives", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# How mixed the records inside shards are


def class_sorted() -> Records:
    """Three shards of one class each: what a writer in archive order produces."""
    return {
        f"train-0000{label - 1}-of-00003": [record(label, number) for number in range(10)]
        for label in (1, 2, 3)
    } | {"validation-00000-of-00001": [record(1, 1), record(2, 2), record(3, 3), record(1, 4)]}


def test_mixing_figure_next_to_a_shuffle(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = verify(capsys, good)
    assert code == 0
    # train: neighbours (1,2) (2,3) | (1,2): none alike; class counts 2, 2, 1 of 5 -> 4/20 shuffled.
    assert "train: 2/2 shards ok" in text and "share a label 0.0% of the time (shuffled: 20.0%)" in text
    assert "warning" not in text


def test_class_sorted_shards_get_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = verify(capsys, build(tmp_path / "out", class_sorted()))
    assert code == 0, text
    warning = next(line for line in text.splitlines() if line.startswith("warning: train:"))
    # 27 of 27 neighbours alike; a shuffle of 3 x 10 gives 3 * 10 * 9 / (30 * 29) = 31.0%.
    assert "100.0% of neighbouring records share a label, 3.2x a shuffle's 31.0%" in warning
    assert "--overwrite" in warning
    assert not any(line.startswith("warning: validation") for line in text.splitlines())


def test_shards_without_our_metadata_are_checked_from_their_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder as Slim's own script leaves it: shards (and maybe labels.txt), nothing of ours."""
    ours = build(tmp_path / "ours", class_sorted())
    bare = tmp_path / "bare"
    bare.mkdir()
    for path in ours.glob("*-of-*"):
        shutil.copy(path, bare / path.name)
    code, text = verify(capsys, bare)
    assert code == 0, text
    assert "train: 3/3 shards ok, 30 records, 3 classes" in text
    assert "warning: train: 100.0% of neighbouring records share a label" in text
    (bare / "train-00001-of-00003").write_bytes(b"garbage")
    code, text = verify(capsys, bare)
    assert code == 1 and "train-00001-of-00003" in text
