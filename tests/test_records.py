"""Slim ``tf.train.Example`` serialization and TFRecord framing, checked against TensorFlow itself."""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagenet_convert.format.records import (
    Example,
    SlimRecord,
    TFRecordError,
    frame,
    frame_chunks,
    parse_example,
    read_records,
)

WITH_BOXES = SlimRecord(
    encoded=b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9",
    filename="n01440764_10026.JPEG",
    height=375,
    width=500,
    label=1,
    synset="n01440764",
    text="tench, Tinca tinca",
    boxes=[(0.068, 0.3413, 0.86, 0.8133), (0.0, 0.1, 1.0, 0.9999)],
)
WITHOUT_BOXES = SlimRecord(
    encoded=bytes(range(256)) * 3,
    filename="ILSVRC2012_val_00000001.JPEG",
    height=333,
    width=500,
    label=66,
    synset="n01751748",
    text="sea snake",
)
UNICODE_TEXT = SlimRecord(b"x", "n03000134_1.JPEG", 1, 1, 1000, "n03000134", "chainlink fence — Zaun é")
BOX_KEYS = tuple(f"image/object/bbox/{side}" for side in ("xmin", "ymin", "xmax", "ymax"))
BYTES_KEYS = {
    f"image/{key}" for key in ("encoded", "format", "filename", "colorspace", "class/synset", "class/text")
}
RECORDS = {"with-boxes": WITH_BOXES, "without-boxes": WITHOUT_BOXES, "unicode-text": UNICODE_TEXT}


def expected_features(record: SlimRecord) -> dict[str, list]:
    """What the Slim reader should find in the record (floats as float32 round-trips them)."""
    columns = list(zip(*record.boxes, strict=True)) if record.boxes else [(), (), (), ()]
    features: dict[str, list] = {
        "image/encoded": [record.encoded],
        "image/format": [b"JPEG"],
        "image/filename": [record.filename.encode()],
        "image/height": [record.height],
        "image/width": [record.width],
        "image/colorspace": [b"RGB"],
        "image/channels": [3],
        "image/class/label": [record.label],
        "image/class/synset": [record.synset.encode()],
        "image/class/text": [record.text.encode()],
        "image/object/bbox/label": [record.label] * len(record.boxes),
        "image/object/class/label": [record.label] * len(record.boxes),
    }
    for key, values in zip(BOX_KEYS, columns, strict=True):
        features[key] = [float(np.float32(value)) for value in values]
    return features


# --- against TensorFlow -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported only by the tests that compare with it (~5 s)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


def tf_example_bytes(tf, record: SlimRecord) -> bytes:
    """The record built like Slim's ``_convert_to_example`` (plus the object/class/label key)."""
    features = {}
    for key, values in expected_features(record).items():
        if key in BOX_KEYS:
            features[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        elif values and isinstance(values[0], bytes):
            features[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        else:
            features[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString(deterministic=True)


@pytest.mark.parametrize("name", RECORDS)
def test_example_bytes_identical_to_tensorflow(tf, name: str) -> None:
    record = RECORDS[name]
    assert record.to_example_bytes() == tf_example_bytes(tf, record)
    parsed = tf.train.Example.FromString(record.to_example_bytes())
    assert parsed.features.feature["image/class/label"].int64_list.value == [record.label]


def test_frame_identical_to_tfrecordwriter(tf, tmp_path) -> None:
    payloads = [record.to_example_bytes() for record in RECORDS.values()] + [b"", b"x" * 70_000]
    path = tmp_path / "written-by-tf"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for payload in payloads:
            writer.write(payload)
    assert path.read_bytes() == b"".join(frame(payload) for payload in payloads)
    read_back = [bytes(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    assert read_back == payloads


# --- framing ------------------------------------------------------------------------------------

PAYLOADS = [WITH_BOXES.to_example_bytes(), b"", WITHOUT_BOXES.to_example_bytes()]
FILE = b"".join(frame(payload) for payload in PAYLOADS)
SECOND = len(frame(PAYLOADS[0])) + len(frame(PAYLOADS[1]))  # where record 2 starts


def flipped(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_read_records_round_trips() -> None:
    assert list(read_records(io.BytesIO(FILE))) == PAYLOADS
    assert list(read_records(io.BytesIO(b""))) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (flipped(FILE, SECOND + 12 + 30), "record 2: data CRC mismatch"),
        (flipped(FILE, len(FILE) - 1), "record 2: data CRC mismatch"),
        (flipped(FILE, SECOND + 1), "record 2: length CRC mismatch"),
        (flipped(FILE, SECOND + 9), "record 2: length CRC mismatch"),
        (FILE[: SECOND + 12 + 10], "record 2: truncated data"),
        (FILE[:-1], "record 2: truncated data"),
        (FILE[: SECOND + 5], "record 2: truncated length header"),
    ],
    ids=[
        "data-byte",
        "data-crc-byte",
        "length-byte",
        "length-crc-byte",
        "cut-in-data",
        "cut-in-crc",
        "cut-in-header",
    ],
)
def test_read_records_detects_damage(data: bytes, message: str) -> None:
    records = read_records(io.BytesIO(data))
    assert next(records) == PAYLOADS[0]
    assert next(records) == PAYLOADS[1]
    with pytest.raises(TFRecordError, match=message):
        next(records)


def test_absurd_length_is_caught_by_its_crc_before_reading() -> None:
    """A damaged length field must not make the reader try to read (or allocate) 2**63 bytes."""
    damaged = struct.pack("<Q", 1 << 63) + FILE[8:]
    with pytest.raises(TFRecordError, match="length CRC"):
        next(read_records(io.BytesIO(damaged)))


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RECORDS)
def test_parse_example_returns_the_features(name: str) -> None:
    record = RECORDS[name]
    assert parse_example(record.to_example_bytes()) == expected_features(record)


coordinate = st.floats(0, 1).map(lambda value: round(value, 4))
records = st.builds(
    SlimRecord,
    encoded=st.one_of(st.binary(max_size=300), st.integers(0, 20_000).map(lambda n: b"\xab" * n)),
    filename=st.text(max_size=40),
    height=st.integers(1, 2**31 - 1),
    width=st.integers(1, 2**31 - 1),
    label=st.integers(-(2**63), 2**63 - 1),
    synset=st.from_regex(r"n\d{8}", fullmatch=True),
    text=st.text(max_size=60),
    boxes=st.lists(st.tuples(coordinate, coordinate, coordinate, coordinate), max_size=40),
)
"""Lengths across one, two and three varint bytes, and labels of every int64 size and sign."""


def protobuf_bytes(record: SlimRecord) -> bytes:
    """The record built as a protobuf message and serialized by the protobuf runtime itself."""
    example = Example()
    for key, values in expected_features(record).items():
        feature = example.features.feature[key]
        kind = "float_list" if key in BOX_KEYS else "bytes_list" if key in BYTES_KEYS else "int64_list"
        getattr(feature, kind).SetInParent()
        getattr(feature, kind).value.extend(values)
    return example.SerializeToString(deterministic=True)


@settings(max_examples=300, deadline=None)
@given(record=records)
def test_wire_format_is_protobufs_own(record: SlimRecord) -> None:
    chunks = record.to_example_chunks()
    assert chunks[1] is record.encoded, "the image's bytes are passed on, not copied"
    assert b"".join(chunks) == protobuf_bytes(record)
    assert frame_chunks(chunks)[1:-1] == chunks


@settings(max_examples=60, deadline=None)
@given(record=records)
def test_serialization_is_deterministic_and_round_trips(record: SlimRecord) -> None:
    data = record.to_example_bytes()
    copy = SlimRecord(**{**record.__dict__, "boxes": [tuple(box) for box in record.boxes]})
    assert copy.to_example_bytes() == data
    assert parse_example(data) == expected_features(record)
    assert list(read_records(io.BytesIO(frame(data) * 2))) == [data, data]
