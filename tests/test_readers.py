"""Other readers on the same converted miniature: TFDS from its metadata, the ``tfrecord`` package and
DALI through the index files. Each must see exactly the records a plain parse of the shards sees."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imagenet_convert.format import filenames
from imagenet_convert.format.records import parse_example, read_records

pytestmark = pytest.mark.slow


def _shards(converted: Path, split: str) -> list[str]:
    info = json.loads((converted / filenames.INFO).read_text())
    return [shard["name"] for shard in info["splits"][split]["shards"]]


def _plain(converted: Path, split: str) -> list[dict[str, list]]:
    """Every record of the split, in shard order, parsed by the project's own reader."""
    examples = []
    for name in _shards(converted, split):
        with (converted / name).open("rb") as stream:
            examples += [parse_example(record) for record in read_records(stream)]
    return examples


def _filename(example: dict[str, list]) -> str:
    return example["image/filename"][0].decode()


TFRECORD_READER = """
import hashlib, json, sys, tempfile
from tfrecord.reader import tfrecord_iterator
from tfrecord.tools.tfrecord2idx import create_index

result = {}
for shard, index in zip(sys.argv[1::2], sys.argv[2::2]):
    with tempfile.NamedTemporaryFile() as own:
        create_index(shard, own.name)
        written = open(own.name).read()
    parts = [tfrecord_iterator(shard, index, (part, 3)) for part in range(3)]  # from offsets in the index
    digests = [hashlib.sha256(record).hexdigest() for part in parts for record in part]
    result[shard] = {"index": written, "records": digests}
print(json.dumps(result))
"""
"""The ``tfrecord`` package declares TensorFlow's Example protos in protobuf's default pool, as
TensorFlow does: the two cannot share a process, so it reads in its own, as in a PyTorch job."""


def test_the_tfrecord_package_reads_every_record_through_the_index(converted: Path) -> None:
    names = _shards(converted, "train") + _shards(converted, "validation")
    argv = [str(converted / path) for name in names for path in (name, filenames.index_file(name))]
    reader = subprocess.run(
        [sys.executable, "-c", TFRECORD_READER, *argv], capture_output=True, text=True, timeout=120
    )
    assert reader.returncode == 0, reader.stderr
    result = json.loads(reader.stdout)
    for name in names:
        got = result[str(converted / name)]
        index = (converted / filenames.index_file(name)).read_text()
        assert got["index"] == index, name  # its own tfrecord2idx
        with (converted / name).open("rb") as stream:
            assert got["records"] == [hashlib.sha256(record).hexdigest() for record in read_records(stream)]


def test_tfds_loads_the_folder_as_it_is(converted: Path, mini_expected) -> None:
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(str(converted))
    wnids = [c["wnid"] for c in sorted(mini_expected["classes"], key=lambda c: c["label"])]
    assert builder.info.features["image"]["class"]["label"].names == ["background", *wnids]
    for split in ("train", "validation"):
        plain = {_filename(ex): ex for ex in _plain(converted, split)}
        got = {}
        for example in builder.as_dataset(split=split, shuffle_files=False):  # shards interleaved
            example = tfds.as_numpy(example)
            assert set(tfds.core.utils.flatten_nest_dict(example)) == set(next(iter(plain.values())))
            got[example["image"]["filename"].decode()] = example["image"]
        assert sorted(got) == sorted(plain)
        for name, image in got.items():
            want = plain[name]
            assert image["class"]["label"] == want["image/class/label"][0], name
            assert image["encoded"].shape == (*want["image/height"], *want["image/width"], 3), name
            xmin = np.float32(want["image/object/bbox/xmin"])
            np.testing.assert_array_equal(image["object"]["bbox"]["xmin"], xmin, name)
        tenth = builder.as_dataset(split=f"{split}[:10%]", shuffle_files=False)
        assert len(list(tenth)) == round(len(plain) / 10)


def test_tfds_metadata_is_what_tfds_writes_itself(converted: Path, tmp_path: Path) -> None:
    """``tfds.folder_dataset.write_metadata`` on the same shards, features and splits: the same bytes."""
    import tensorflow_datasets as tfds

    info = tfds.builder_from_directory(str(converted)).info
    for path in converted.glob("*-of-*"):
        os.symlink(path, tmp_path / path.name)
    template = tfds.core.ShardedFileTemplate(
        data_dir=tmp_path,
        template=filenames.SHARD_TEMPLATE,
        dataset_name=info.name,
        filetype_suffix="tfrecord",
    )
    splits = [
        tfds.core.SplitInfo(
            name=s.name,
            shard_lengths=s.shard_lengths,
            num_bytes=s.num_bytes,
            filename_template=template.replace(split=s.name),
        )
        for s in info.splits.values()
    ]
    tfds.folder_dataset.write_metadata(
        data_dir=tmp_path,
        features=info.features,
        split_infos=splits,
        filename_template=template,
        description=info.description,
        homepage=info.homepage,
        check_data=False,
    )
    for name in (filenames.TFDS_INFO, filenames.TFDS_FEATURES, filenames.TFDS_CLASS_NAMES):
        assert (converted / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_dali_reads_and_decodes_every_record_through_the_index(converted: Path) -> None:
    """CPU only (``device_id=None``): DALI's TFRecord reader, driven by the index files, then its decoder."""
    pytest.importorskip("nvidia.dali", reason="DALI is the optional 'dali' extra: make test-dali")
    from nvidia.dali import fn, pipeline_def, types
    from nvidia.dali import tfrecord as tfrec

    for split in ("train", "validation"):
        names = _shards(converted, split)
        plain = _plain(converted, split)

        @pipeline_def(batch_size=len(plain), num_threads=2, device_id=None)
        def read(names: list[str] = names):
            record = fn.readers.tfrecord(
                path=[str(converted / name) for name in names],
                index_path=[str(converted / filenames.index_file(name)) for name in names],
                features={
                    "image/encoded": tfrec.FixedLenFeature((), tfrec.string, ""),
                    "image/filename": tfrec.FixedLenFeature((), tfrec.string, ""),
                    "image/class/label": tfrec.FixedLenFeature([1], tfrec.int64, -1),
                },
                random_shuffle=False,
                name="reader",
            )
            image = fn.decoders.image(
                record["image/encoded"], device="cpu", output_type=types.RGB, adjust_orientation=False
            )  # as TensorFlow (and so Slim) decodes: EXIF orientation ignored
            return image, record["image/filename"], record["image/class/label"]

        pipeline = read()
        pipeline.build()
        assert pipeline.epoch_size("reader") == len(plain)
        images, names_out, labels = pipeline.run()
        for i, want in enumerate(plain):
            assert names_out.at(i).tobytes().decode() == _filename(want)
            assert int(labels.at(i)[0]) == want["image/class/label"][0]
            assert images.at(i).shape == (*want["image/height"], *want["image/width"], 3)
