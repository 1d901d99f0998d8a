"""End to end: the real CLI on generated archives, checked example by example against expected.json."""

from __future__ import annotations

import json
import shutil
import tarfile
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from imagenet_convert.format import filenames
from imagenet_convert.format.records import BOX_KEYS, KINDS, SLIM_READER, parse_example, read_records
from tests.support.cli import convert, output_files

pytestmark = pytest.mark.slow


def _slim_parse(out: Path, split: str) -> dict[str, dict]:
    """Read the shards with tf.data and the exact parsing spec of Slim's datasets/imagenet.py (the
    trainer's), and the rest of what build_imagenet_data.py writes, each key required."""
    import tensorflow as tf

    from imagenet_convert.trainer.data import feature, slim_features

    spec = {**slim_features(), **{key: feature(key) for key in KINDS if key not in SLIM_READER}}
    files = sorted(str(p) for p in out.glob(f"{split}-*"))
    parsed = {}
    for record in tf.data.TFRecordDataset(files).map(lambda r: tf.io.parse_single_example(r, spec)):
        dense = {k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v for k, v in record.items()}
        example = {k: v.numpy() for k, v in dense.items()}
        parsed[example["image/filename"].decode()] = example
    return parsed


def _source_images(mini_imagenet: Path, split: str) -> dict[str, bytes]:
    """The original image bytes, read independently with tarfile."""
    if split == "validation":
        with tarfile.open(mini_imagenet / "ILSVRC2012_img_val.tar") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    found = {}
    with tarfile.open(mini_imagenet / "ILSVRC2012_img_train.tar") as outer:
        for class_tar in outer:
            with tarfile.open(fileobj=outer.extractfile(class_tar)) as inner:
                found.update({m.name: inner.extractfile(m).read() for m in inner if m.isfile()})
    return found


@pytest.mark.parametrize("split", ["train", "validation"])
def test_every_example_matches_expected(
    converted: Path, mini_imagenet: Path, mini_expected, split: str
) -> None:
    import tensorflow as tf

    want = mini_expected["images"][split]
    got = _slim_parse(converted, split)
    assert sorted(got) == sorted(want)
    sources = _source_images(mini_imagenet, split)
    for name, ex in got.items():
        exp = want[name]
        assert ex["image/class/label"] == exp["label"], name
        assert ex["image/class/synset"].decode() == exp["synset"], name
        assert ex["image/class/text"].decode() == exp["text"], name
        assert (ex["image/height"], ex["image/width"]) == (exp["height"], exp["width"]), name
        assert ex["image/format"] == b"JPEG" and ex["image/colorspace"] == b"RGB", name
        assert ex["image/channels"] == 3, name
        boxes = np.stack([ex[key] for key in BOX_KEYS], axis=-1)
        np.testing.assert_array_equal(boxes.reshape(-1, 4), np.float32(exp["boxes"]).reshape(-1, 4), name)
        assert list(ex["image/object/bbox/label"]) == [exp["label"]] * len(exp["boxes"]), name
        assert list(ex["image/object/class/label"]) == [exp["label"]] * len(exp["boxes"]), name
        if exp["reencoded"]:
            assert ex["image/encoded"] != sources[name], name
            pixels = tf.io.decode_jpeg(ex["image/encoded"], channels=0)
            assert pixels.shape == (exp["height"], exp["width"], 3), name
        else:
            assert ex["image/encoded"] == sources[name], name


def _records_in_order(out: Path, split: str) -> list[list[str]]:
    """Each shard's file names, in the order its records were written."""
    return [
        [parse_example(record)["image/filename"][0].decode() for record in read_records(path.open("rb"))]
        for path in sorted(out.glob(f"{split}-*"))
    ]


@pytest.mark.parametrize(("split", "shards"), [("train", 4), ("validation", 2)])
def test_records_follow_the_seeded_permutation_inside_every_shard(
    converted: Path, mini_expected, split: str, shards: int
) -> None:
    """Slim's recipe: the sorted images, one permutation with the seed, cut into contiguous ranges."""
    names = sorted(mini_expected["images"][split])
    order = [names[i] for i in np.random.default_rng(12345).permutation(len(names))]
    bounds = [len(names) * i // shards for i in range(shards + 1)]
    assert _records_in_order(converted, split) == [order[a:b] for a, b in pairwise(bounds)]
    labels = [mini_expected["images"][split][name]["label"] for name in order]
    same = sum(a == b for a, b in pairwise(labels)) / (len(labels) - 1)
    assert same < 0.3, f"{same:.0%} of adjacent records share a label: shards are not shuffled inside"


def test_metadata_beside_the_shards(converted: Path, mini_expected) -> None:
    classes = mini_expected["classes"]
    labels = (converted / "labels.txt").read_text().splitlines()
    assert labels[0] == "0:background"
    assert labels[1:] == [f"{c['label']}:{c['words']}" for c in sorted(classes, key=lambda c: c["label"])]
    info = json.loads((converted / "imagenet_convert.json").read_text())
    assert info["num_classes"] == len(classes) + 1
    for split, images in mini_expected["images"].items():
        entry = info["splits"][split]
        assert entry["num_examples"] == len(images)
        sizes = [shard["num_records"] for shard in entry["shards"]]
        assert max(sizes) - min(sizes) <= 1
        for shard in entry["shards"]:
            assert len(list(read_records((converted / shard["name"]).open("rb")))) == shard["num_records"]
    report = json.loads((converted / "run_report.json").read_text())
    assert report["totals"]["reencoded"] == sum(
        e["reencoded"] for images in mini_expected["images"].values() for e in images.values()
    )
    work = converted / ".imagenet-convert"
    assert [p.name for p in work.iterdir()] == ["plan.json"], "a finished run keeps only its record"
    assert json.loads((work / "plan.json").read_text())["finished"] is True
    listed = sorted(shard["name"] for entry in info["splits"].values() for shard in entry["shards"])
    slims = [p.name for pattern in ("train-*", "validation-*") for p in converted.glob(pattern)]
    assert sorted(slims) == listed  # Slim's patterns match the shards and nothing else
    assert sorted(p.name for p in (converted / "index").iterdir()) == [f"{name}.idx" for name in listed]


def test_a_finished_run_is_not_redone(converted: Path, mini_imagenet: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    shutil.copytree(converted, again)
    result = convert(mini_imagenet, again)
    assert result.returncode == 0, result.stderr
    assert "complete and its inputs are unchanged; nothing to do" in result.stdout
    assert output_files(again) == output_files(converted)
    (again / "train-00002-of-00004").unlink()
    missing = convert(mini_imagenet, again)
    assert missing.returncode == 1 and "train-00002-of-00004" in missing.stderr
    assert "--overwrite" in missing.stderr


def test_changed_options_into_the_same_folder_are_refused(converted: Path, mini_imagenet: Path) -> None:
    """Each option that changes the bytes is refused alike (tests/test_convert.py tries several)."""
    before = output_files(converted)
    result = convert(mini_imagenet, converted, "--seed", "7")
    assert result.returncode == 1
    assert "--overwrite" in result.stderr and "other inputs or options" in result.stderr
    assert output_files(converted) == before


def test_a_folder_of_an_older_version_is_refused_then_overwritten(
    converted: Path, mini_imagenet: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    shutil.copytree(converted, old)
    manifest = old / ".imagenet-convert" / "plan.json"
    text = manifest.read_text()
    assert '"format_version": 3' in text
    manifest.write_text(text.replace('"format_version": 3', '"format_version": 2'))  # the previous release
    refused = convert(mini_imagenet, old)
    assert refused.returncode == 1
    assert "older imagenet-convert (plan format 2: a plan file per shard" in refused.stderr
    assert "--overwrite" in refused.stderr
    assert convert(mini_imagenet, old, "--overwrite").returncode == 0
    assert output_files(old) == output_files(converted)


def test_validation_boxes_on_request_over_an_earlier_conversion(
    converted: Path, mini_imagenet: Path, mini_expected, tmp_path: Path
) -> None:
    """Other options into a used folder with --overwrite: what the earlier run wrote goes, nothing else."""
    folder = tmp_path / "again"
    shutil.copytree(converted, folder)
    (folder / "notes.txt").write_text("the user's own file")
    result = convert(mini_imagenet, folder, "--splits", "validation", "--validation-boxes", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert not list(folder.glob("train-*")) and not list((folder / "index").glob("train-*"))
    assert (folder / "notes.txt").read_text() == "the user's own file"
    assert list(json.loads((folder / filenames.INFO).read_text())["splits"]) == ["validation"]
    tfds_info = json.loads((folder / filenames.TFDS_INFO).read_text())
    assert [split["name"] for split in tfds_info["splits"]] == ["validation"]
    got = _slim_parse(folder, "validation")
    for name, exp in mini_expected["images"]["validation"].items():
        boxes = np.stack([got[name][key] for key in BOX_KEYS], -1)
        np.testing.assert_array_equal(
            boxes.reshape(-1, 4), np.float32(exp["validation_boxes"]).reshape(-1, 4)
        )


def test_one_split_alone_without_train_or_box_archives(mini_imagenet: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz"):
        (folder / name).symlink_to(mini_imagenet / name)
    result = convert(folder, tmp_path / "out", "--splits", "validation", "--validation-boxes")
    assert result.returncode == 0, result.stderr
    assert "warning: ILSVRC2012_bbox_val_v3.tgz not found" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*-of-*")) == [
        "validation-00000-of-00002",
        "validation-00001-of-00002",
    ]
    missing = convert(folder, tmp_path / "out2", "--splits", "train")
    assert missing.returncode == 1 and "missing ILSVRC2012_img_train.tar" in missing.stderr
