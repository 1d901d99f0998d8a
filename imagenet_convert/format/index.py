"""Index files of TFRecord shards, as NVIDIA DALI's ``tfrecord2idx`` writes them.

DALI's ``fn.readers.tfrecord`` needs one per shard, and index-based readers such as the
``tfrecord`` package use the same text format: a line per record, ``<offset> <length>``, where
the offset is the record's first byte in the shard and the length counts TFRecord's framing
(8 bytes of length, two 4-byte CRCs) with the data. The converter writes them while it writes
the shards, so no shard is read twice.
"""

from __future__ import annotations

from collections.abc import Iterable

FRAMING = 16
"""Bytes TFRecord adds to each record: length, CRC of the length, CRC of the data."""

Span = tuple[int, int]
"""(offset, length) of one framed record in its shard."""


def index_bytes(spans: Iterable[Span]) -> bytes:
    return "".join(f"{offset} {length}\n" for offset, length in spans).encode()


def parse_index(data: bytes) -> list[Span]:
    """The spans an index file lists; ValueError naming the first line that is not ``offset length``."""
    spans = []
    for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
        fields = line.split()
        if len(fields) != 2 or not all(field.isdigit() for field in fields):
            raise ValueError(f"line {number} is {line!r}, not '<offset> <length>'")
        spans.append((int(fields[0]), int(fields[1])))
    return spans


def first_difference(listed: list[Span], actual: list[Span]) -> str | None:
    """What is wrong with an index that lists ``listed`` for a shard whose records are ``actual``."""
    for number, (want, got) in enumerate(zip(actual, listed, strict=False)):
        if want != got:
            return f"line {number + 1} says {got[0]} {got[1]}, but record {number} is at {want[0]} {want[1]}"
    if len(listed) != len(actual):
        return f"{len(listed)} lines for {len(actual)} records"
    return None
