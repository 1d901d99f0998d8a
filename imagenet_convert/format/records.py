"""TF-Slim ``tf.train.Example`` records and TFRecord framing, without importing TensorFlow.

Records are written straight from protobuf's wire format, byte for byte what TensorFlow's
``SerializeToString(deterministic=True)`` gives (map entries sorted by key; the tests compare with
TensorFlow itself), as chunks that leave the image's bytes uncopied. Reading goes through a twin
of ``example.proto`` declared in a private protobuf pool, at a fraction of TF's import cost. The
framing is TFRecord's: length, masked CRC-32C of the length, data, masked CRC-32C.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import BinaryIO

import google_crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

Box = tuple[float, float, float, float]
"""A box as records hold it: (xmin, ymin, xmax, ymax), each in [0, 1]."""

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
            name=name,
            number=number,
            label=_F.LABEL_OPTIONAL,
            type=_F.TYPE_MESSAGE,
            type_name=type_name,
            oneof_index=0,
        )
    features = proto.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=_F.LABEL_OPTIONAL, type=_F.TYPE_STRING)
    entry.field.add(
        name="value", number=2, label=_F.LABEL_OPTIONAL, type=_F.TYPE_MESSAGE, type_name=".tensorflow.Feature"
    )
    features.field.add(
        name="feature",
        number=1,
        label=_F.LABEL_REPEATED,
        type=_F.TYPE_MESSAGE,
        type_name=".tensorflow.Features.FeatureEntry",
    )
    example = proto.message_type.add(name="Example")
    example.field.add(
        name="features",
        number=1,
        label=_F.LABEL_OPTIONAL,
        type=_F.TYPE_MESSAGE,
        type_name=".tensorflow.Features",
    )
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


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint; negative int64s as their 64-bit two's complement, as protobuf does."""
    if 0 <= value < 0x80:
        return _SMALL[value]
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes((n,)) for n in range(0x80)]


def _delimited(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte, the payload's length, the payload."""
    return tag + _varint(len(payload)) + payload


def _entry(key: str, feature: bytes) -> bytes:
    """One ``Features.feature`` map entry (key = field 1, value = field 2), as its own field 1."""
    return _delimited(b"\x0a", _delimited(b"\x0a", key.encode()) + _delimited(b"\x12", feature))


def _bytes_feature(value: bytes) -> bytes:
    return _delimited(b"\x0a", _delimited(b"\x0a", value))  # Feature.bytes_list = 1


def _floats_feature(values: list[float]) -> bytes:
    packed = _delimited(b"\x0a", struct.pack(f"<{len(values)}f", *values)) if values else b""
    return _delimited(b"\x12", packed)  # Feature.float_list = 2


def _ints_feature(values: list[int]) -> bytes:
    packed = _delimited(b"\x0a", b"".join(map(_varint, values))) if values else b""
    return _delimited(b"\x1a", packed)  # Feature.int64_list = 3


_ENCODED_KEY = _delimited(b"\x0a", b"image/encoded")
_FORMAT = _entry("image/format", _bytes_feature(CONSTANTS["image/format"]))


@lru_cache(maxsize=4096)
def _class_entries(label: int, synset: str, text: str) -> bytes:
    """The entries before the image, all the same for a class: serialized once per class and worker."""
    return b"".join(
        (
            _entry("image/channels", _ints_feature([CONSTANTS["image/channels"]])),
            _entry("image/class/label", _ints_feature([label])),
            _entry("image/class/synset", _bytes_feature(synset.encode())),
            _entry("image/class/text", _bytes_feature(text.encode())),
            _entry("image/colorspace", _bytes_feature(CONSTANTS["image/colorspace"])),
        )
    )


@lru_cache(maxsize=4096)
def _box_entries(label: int, boxes: tuple[Box, ...]) -> bytes:
    """The per-box entries (cached: most images have no box, or share a class's box-less bytes)."""
    per_box = _ints_feature([label] * len(boxes))
    sides = ("xmin", "ymin", "xmax", "ymax")  # a Box's order
    columns = {side: _floats_feature([box[i] for box in boxes]) for i, side in enumerate(sides)}
    return b"".join(
        (
            _entry("image/object/bbox/label", per_box),
            *(_entry(f"image/object/bbox/{c}", columns[c]) for c in ("xmax", "xmin", "ymax", "ymin")),
            # Slim's reader parses this key but Slim's writer never wrote it: write it too.
            _entry("image/object/class/label", per_box),
        )
    )


def _image_entry_head(size: int) -> bytes:
    """The ``image/encoded`` entry up to the image's first byte."""
    feature_head = b"\x0a" + _varint(len(_varint(size)) + 1 + size) + b"\x0a" + _varint(size)
    value_head = b"\x12" + _varint(len(feature_head) + size)
    return (
        b"\x0a"
        + _varint(len(_ENCODED_KEY) + len(value_head) + len(feature_head) + size)
        + (_ENCODED_KEY + value_head + feature_head)
    )


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

    def to_example_chunks(self) -> list[bytes]:
        """The serialized ``tf.train.Example`` as chunks whose join is the record: the image's bytes
        are one chunk of their own, never copied here.

        Byte for byte what ``SerializeToString(deterministic=True)`` gives (map entries in the sorted
        order of ``KINDS``' keys), written from the wire format with what a class shares cached:
        cheaper than building the message.
        """
        before = _class_entries(self.label, self.synset, self.text) + _image_entry_head(len(self.encoded))
        after = b"".join(
            (
                _entry("image/filename", _bytes_feature(self.filename.encode())),
                _FORMAT,
                _entry("image/height", _ints_feature([self.height])),
                _box_entries(self.label, tuple(map(tuple, self.boxes))),
                _entry("image/width", _ints_feature([self.width])),
            )
        )
        total = len(before) + len(self.encoded) + len(after)
        return [b"\x0a" + _varint(total) + before, self.encoded, after]

    def to_example_bytes(self) -> bytes:
        """Serialize deterministically (the same bytes in every process and run)."""
        return b"".join(self.to_example_chunks())


def _mask(crc: int) -> bytes:
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def frame_chunks(chunks: list[bytes]) -> list[bytes]:
    """One TFRecord of the record ``b"".join(chunks)``, as chunks (none of the record's is copied)."""
    length = struct.pack("<Q", sum(map(len, chunks)))
    crc = 0
    for chunk in chunks:
        crc = google_crc32c.extend(crc, chunk)
    return [length + _mask(google_crc32c.value(length)), *chunks, _mask(crc)]


def frame(record: bytes) -> bytes:
    """One TFRecord: what ``tf.io.TFRecordWriter.write`` puts on disk."""
    return b"".join(frame_chunks([record]))


class TFRecordError(ValueError):
    """A TFRecord file whose framing or checksums are wrong."""


def read_records(stream: BinaryIO) -> Iterator[bytes]:
    """Yield each record of a TFRecord file, checking both CRCs."""
    index = 0
    while header := stream.read(12):
        if len(header) < 12:
            raise TFRecordError(f"record {index}: truncated length header")
        (length,) = struct.unpack("<Q", header[:8])
        if _mask(google_crc32c.value(header[:8])) != header[8:]:
            raise TFRecordError(f"record {index}: length CRC mismatch")
        body = stream.read(length + 4)
        if len(body) < length + 4:
            raise TFRecordError(f"record {index}: truncated data")
        if _mask(google_crc32c.value(body[:length])) != body[length:]:
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
