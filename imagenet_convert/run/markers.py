"""A shard's done marker: what its worker counted, written last so a shard is done exactly when it is.

Workers write one marker per shard (``stages.py``); the launcher lists them to resume and to draw
progress, and reads them to write the metadata (``metadata.py``) and ``run_report.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imagenet_convert.format import filenames
from imagenet_convert.storage.output import OutputDir, json_bytes

_OPTIONAL = ("seconds", "created", "cpu_seconds", "worker")
"""Fields that older markers (and hand-made ones in tests) lack."""


@dataclass
class ShardMarker:
    """One written shard's counts and checksum, as saved in the work folder's ``done/``."""

    name: str
    split: str
    num_records: int
    bytes: int
    sha256: str
    class_counts: dict[int, int]
    stats: dict[str, int]
    """Quirks met (png, cmyk, ...), re-encodings and the boxes written."""
    skipped: list[dict[str, str]] = field(default_factory=list)
    """Damaged images left out under --skip-bad-images: ``{"image": ..., "problem": ...}``."""
    seconds: float | None = None
    created: float | None = None
    """When the shard's temporary file appeared, in seconds since the epoch."""
    cpu_seconds: float | None = None
    """The writer thread's own CPU time (user + system)."""
    worker: str | None = None
    """``host:pid`` of the process that wrote it."""

    def to_json(self) -> dict[str, Any]:
        """The saved form: class labels as strings (JSON keys), timings left out when unknown."""
        value: dict[str, Any] = {
            "name": self.name,
            "split": self.split,
            "num_records": self.num_records,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "class_counts": {str(label): n for label, n in sorted(self.class_counts.items())},
            "stats": dict(sorted(self.stats.items())),
            "skipped": self.skipped,
        }
        for key in _OPTIONAL:
            if getattr(self, key) is not None:
                value[key] = getattr(self, key)
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ShardMarker:
        """A saved marker; those of older runs lack the timings and the worker."""
        return cls(
            name=value["name"],
            split=value["split"],
            num_records=value["num_records"],
            bytes=value["bytes"],
            sha256=value["sha256"],
            class_counts={int(label): n for label, n in value["class_counts"].items()},
            stats=value["stats"],
            skipped=value["skipped"],
            **{key: value.get(key) for key in _OPTIONAL},
        )


def write_marker(out: OutputDir, marker: ShardMarker) -> None:
    out.write_atomic(out.path(filenames.marker(marker.name)), json_bytes(marker.to_json()))


def read_marker(out: OutputDir, shard: str) -> ShardMarker:
    return ShardMarker.from_json(out.read_json(out.path(filenames.marker(shard))))


def done_markers(out: OutputDir) -> set[str]:
    """The shards that have a marker (one listing of ``done/``)."""
    return {filenames.marker_shard(path) for path in out.sizes(out.path(filenames.marker("*")))}


def done_shards(out: OutputDir) -> set[str]:
    """Shards whose marker, file and index all exist (a marker is written last, but files can be lost)."""
    return {
        name
        for name in done_markers(out)
        if all(out.exists(out.path(path)) for path in filenames.shard_files(name))
    }
