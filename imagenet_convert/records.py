"""TF-Slim ``tf.train.Example`` records and TFRecord framing, without importing TensorFlow.

The message types are declared here from TensorFlow's ``example.proto``/``feature.proto`` in a
private protobuf pool, so workers serialize with the real protobuf runtime (deterministically:
sorted map keys, as ``SerializeToString(deterministic=True)`` does) at a fraction of TF's import
cost. The framing is TFRecord's: length, masked CRC-32C of the length, data, masked CRC-32C.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import google_crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from imagenet_convert.boxes import Box

_F = descriptor_pb2.FieldDescriptorProto


def _declare_example_type() -> type:
    proto = descriptor_pb2.FileDescriptorProto(name="imagenet_convert/example.proto", package="tensorflow")
    for name, kind in (
        ("BytesList", _F.TYPE_BYTES),
        ("FloatList", _F.TYPE_FLOAT),
        ("Int64List", _F.TYPE_INT64),
    ):
        message = proto.message_type.add(name=name)
        value = message.field.add(name="value", number=1, label=_F.LABEL_REPEATED, type=kind)
        if kind != _F.TYPE_BYTES:
            value.options.packed = True
    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, name in enumerate(("bytes_list", "float_list", "int64_list"), start=1):
        type_name = ".tensorflow." + name.title().replace("_", "")
        feature.field.add(
            name=name, number=number, label=_F.LABEL_OPTIONAL, type=_F.TYPE_MESSAGE,
            type_name=type_name, oneof_index=0,
        )  # fmt: skip
    features = proto.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=_F.LABEL_OPTIONAL, type=_F.TYPE_STRING)
    entry.field.add(
        name="value", number=2, label=_F.LABEL_OPTIONAL, type=_F.TYPE_MESSAGE, type_name=".tensorflow.Feature"
    )
    features.field.add(
        name="feature", number=1, label=_F.LABEL_REPEATED, type=_F.TYPE_MESSAGE,
        type_name=".tensorflow.Features.FeatureEntry",
    )  # fmt: skip
    example = proto.message_type.add(name="Example")
    example.field.add(
        name="features", number=1, label=_F.LABEL_OPTIONAL, type=_F.TYPE_MESSAGE,
        type_name=".tensorflow.Features",
    )  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))


Example = _declare_example_type()
"""Wire-compatible twin of ``tf.train.Example``."""


BYTES, INTS, FLOATS = "bytes_list", "int64_list", "float_list"
SCALARS = {
    "image/encoded": BYTES, "image/format": BYTES, "image/filename": BYTES, "image/colorspace": BYTES,
    "image/class/synset": BYTES, "image/class/text": BYTES, "image/height": INTS, "image/width": INTS,
    "image/channels": INTS, "image/class/label": INTS,
}  # fmt: skip
"""Slim's keys with one value each, and the kind of list that holds it."""
BOX_KEYS = tuple(f"image/object/bbox/{c}" for c in ("xmin", "ymin", "xmax", "ymax"))
LISTS = {**dict.fromkeys(BOX_KEYS, FLOATS), "image/object/bbox/label": INTS}
"""Slim's keys with one value per box."""
OPTIONAL = {"image/object/class/label": INTS}
"""Slim's reader parses this key although Slim's writer never wrote it; our writer adds it."""
KINDS = {**SCALARS, **LISTS, **OPTIONAL}
"""Every key of our records, and the kind of list that holds its values."""
CONSTANTS = {"image/format": b"JPEG", "image/colorspace": b"RGB", "image/channels": 3}
"""The scalars that are the same in every record of Slim's format."""
SLIM_READER: dict[str, bytes | int | None] = {
    "image/encoded": b"", "image/format": b"jpeg", "image/class/label": -1, "image/class/text": b"",
    **dict.fromkeys(BOX_KEYS), "image/object/class/label": None,
}  # fmt: skip
"""The keys Slim's reader (``keys_to_features`` of ``datasets/imagenet.py``) parses: a scalar with the
default it fills in when the key is absent, a list with None."""


@dataclass
class SlimRecord:
    """One image as TF-Slim's ``build_imagenet_data.py`` stores it."""

    encoded: bytes
    filename: str
    height: int
    width: int
    label: int
    synset: str
    text: str
    boxes: list[Box] = field(default_factory=list)

    def to_example_bytes(self) -> bytes:
        """Serialize deterministically (the same bytes in every process and run)."""
        example = Example()
        feature = example.features.feature
        for key, value in (
            ("image/colorspace", b"RGB"),
            ("image/format", b"JPEG"),
            ("image/filename", self.filename.encode()),
            ("image/class/synset", self.synset.encode()),
            ("image/class/text", self.text.encode()),
            ("image/encoded", self.encoded),
        ):
            feature[key].bytes_list.value.append(value)
        for key, ints in (
            ("image/height", [self.height]),
            ("image/width", [self.width]),
            ("image/channels", [3]),
            ("image/class/label", [self.label]),
            ("image/object/bbox/label", [self.label] * len(self.boxes)),
            # Slim's reader parses this key but Slim's writer never wrote it: write it too.
            ("image/object/class/label", [self.label] * len(self.boxes)),
        ):
            feature[key].int64_list.SetInParent()
            feature[key].int64_list.value.extend(ints)
        for index, key in enumerate(("xmin", "ymin", "xmax", "ymax")):
            values = feature[f"image/object/bbox/{key}"].float_list
            values.SetInParent()
            values.value.extend(box[index] for box in self.boxes)
        return example.SerializeToString(deterministic=True)


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(record: bytes) -> bytes:
    """One TFRecord: what ``tf.io.TFRecordWriter.write`` puts on disk."""
    length = struct.pack("<Q", len(record))
    return b"".join(
        (length, struct.pack("<I", _masked_crc(length)), record, struct.pack("<I", _masked_crc(record)))
    )


class TFRecordError(ValueError):
    """A TFRecord file whose framing or checksums are wrong."""


def read_records(stream: BinaryIO) -> Iterator[bytes]:
    """Yield each record of a TFRecord file, checking both CRCs."""
    index = 0
    while header := stream.read(12):
        if len(header) < 12:
            raise TFRecordError(f"record {index}: truncated length header")
        length, length_crc = struct.unpack("<QI", header)
        if _masked_crc(header[:8]) != length_crc:
            raise TFRecordError(f"record {index}: length CRC mismatch")
        body = stream.read(length + 4)
        if len(body) < length + 4:
            raise TFRecordError(f"record {index}: truncated data")
        if _masked_crc(body[:length]) != struct.unpack("<I", body[length:])[0]:
            raise TFRecordError(f"record {index}: data CRC mismatch")
        yield body[:length]
        index += 1


def parse_features(record: bytes) -> dict[str, tuple[str | None, list]]:
    """Decode a record into {key: (kind, values)}; the kind matters to ``verify``, since Slim parses
    each key with a fixed dtype (None: a feature that holds no list at all)."""
    parsed = {}
    for key, feature in Example.FromString(record).features.feature.items():
        kind = feature.WhichOneof("kind")
        parsed[key] = (kind, list(getattr(feature, kind).value) if kind else [])
    return parsed


def parse_example(record: bytes) -> dict[str, list]:
    """Decode a record into {key: values}."""
    return {key: values for key, (_, values) in parse_features(record).items()}
