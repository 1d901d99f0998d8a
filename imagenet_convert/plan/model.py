"""What a plan is: which image goes to which shard, with its label and boxes (built in ``build.py``,
saved and loaded in ``store.py``). Nothing here knows which layout the images came from: each image
carries a locator."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from imagenet_convert.errors import Failed
from imagenet_convert.format.filenames import SPLITS
from imagenet_convert.format.records import Box
from imagenet_convert.inputs import devkit
from imagenet_convert.inputs.layouts.locators import Locator
from imagenet_convert.inputs.layouts.table import ImageTable

RECORD_OVERHEAD = 600
"""Bytes a record adds to its image (features, framing): for space estimates only."""


class PlanError(Failed):
    """The inputs, read without fault, cannot be planned as asked (classes missing or unknown, a
    malformed box file with --strict): the catalogue's content, not an archive's damage."""


@dataclass(frozen=True)
class PlanOptions:
    """Everything besides the input files that determines the output bytes."""

    splits: tuple[str, ...] = SPLITS
    seed: int = 12345
    train_shards: int = 1024
    validation_shards: int = 128
    validation_boxes: bool = False
    allow_missing_classes: bool = False
    skip_bad_images: bool = False
    strict: bool = False
    validation_labels: str | None = None

    def shards(self, split: str) -> int:
        return self.train_shards if split == "train" else self.validation_shards


class PlannedImage(NamedTuple):
    """One image of a shard: where its bytes lie and what its record says."""

    filename: str
    locator: Locator
    label: int
    boxes: tuple[Box, ...] = ()


@dataclass(frozen=True)
class SplitImages:
    """A split's planned images as columns: its table, each row's label and boxes.

    Row ``r``'s boxes are ``box_values[box_start[r] : box_start[r] + box_count[r]]``.
    """

    table: ImageTable
    labels: np.ndarray
    box_start: np.ndarray
    box_count: np.ndarray
    box_values: np.ndarray

    def planned(self, rows: np.ndarray) -> Iterator[PlannedImage]:
        starts, counts = self.box_start[rows].tolist(), self.box_count[rows].tolist()
        for (name, _, locator), label, start, count in zip(
            self.table.rows(rows), self.labels[rows].tolist(), starts, counts, strict=True
        ):
            found = self.box_values[start : start + count].tolist() if count else ()
            yield PlannedImage(name, locator, label, tuple(map(tuple, found)))


class PlannedRows(Sequence[PlannedImage]):
    """A freshly planned shard's images: rows of its split, made into PlannedImages when read."""

    def __init__(self, split: SplitImages, rows: np.ndarray):
        self._split, self._rows = split, rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[PlannedImage]:
        return self._split.planned(self._rows)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return list(self._split.planned(self._rows[index]))
        return next(self._split.planned(self._rows[[index]]))

    def image_bytes(self) -> int:
        return int(self._split.table.size[self._rows].sum())

    def json_rows(self, files: dict[str, int]) -> list[list[Any]]:
        """The rows as :meth:`Shard.to_json` writes them, straight from the columns: making each
        row's PlannedImage first was two thirds of saving the plan."""
        split, rows = self._split, self._rows
        table = split.table
        starts, counts = split.box_start[rows].tolist(), split.box_count[rows].tolist()
        columns = zip(
            table.names[rows].tolist(),
            [files.setdefault(table.files[index], len(files)) for index in table.file[rows].tolist()],
            table.offset[rows].tolist(),
            table.size[rows].tolist(),
            table.zipped[rows].astype(int).tolist(),
            split.labels[rows].tolist(),
            [split.box_values[s : s + c].tolist() if c else [] for s, c in zip(starts, counts, strict=True)],
            strict=True,
        )
        return [[name.decode(), *rest] for name, *rest in columns]


@dataclass
class Shard:
    """One output file and the images it will hold, in the order they are written.

    That is the seeded permutation's order, as in Slim's shards: records are shuffled inside every
    shard, not only across shards. The writer queues the reads in offset order itself.
    """

    name: str
    split: str
    images: Sequence[PlannedImage]
    """A list when loaded from a shard's plan file, rows of the split's columns when just planned."""
    num_images: int = 0
    image_bytes: int = 0
    """Counted from ``images`` when given; a summary (``summary()``) keeps only these."""
    plan_span: tuple[int, int] | None = field(default=None, compare=False)
    """(offset, length) of the shard's line in ``filenames.PLAN_SHARDS``, once the plan is saved."""

    def __post_init__(self) -> None:
        if self.images:
            self.num_images = len(self.images)
            if isinstance(self.images, PlannedRows):
                self.image_bytes = self.images.image_bytes()
            else:
                self.image_bytes = sum(image.locator.size for image in self.images)

    def summary(self) -> Shard:
        """The shard without its images: what the launcher keeps once the plan is saved."""
        return Shard(self.name, self.split, [], self.num_images, self.image_bytes, self.plan_span)

    def to_json(self) -> dict[str, Any]:
        """Files are named once per shard: an archive's path is shared by all its images."""
        files: dict[str, int] = {}
        if isinstance(self.images, PlannedRows):
            images = self.images.json_rows(files)
        else:  # a shard loaded from the saved plan
            images = [
                [
                    i.filename,
                    files.setdefault(i.locator.path, len(files)),
                    i.locator.offset,
                    i.locator.size,
                    int(i.locator.zipped),
                    i.label,
                    [list(b) for b in i.boxes],
                ]
                for i in self.images
            ]
        return {"name": self.name, "split": self.split, "files": list(files), "images": images}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Shard:
        files = value["files"]
        images = [
            PlannedImage(f, Locator(files[p], o, s, bool(z)), label, tuple(map(tuple, b)))
            for f, p, o, s, z, label, b in value["images"]
        ]
        return cls(value["name"], value["split"], images)


def bytes_to_write(shards: list[Shard]) -> int:
    """About the space these shards take once written (images plus RECORD_OVERHEAD each)."""
    return sum(s.image_bytes + RECORD_OVERHEAD * s.num_images for s in shards)


@dataclass
class Plan:
    """The whole conversion: classes, shards, and what planning noticed."""

    fingerprint: str
    options: PlanOptions
    inputs: dict[str, Any]
    classes: list[devkit.Synset]
    shards: list[Shard]
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    """Input files left out at planning time (--skip-bad-images), for run_report.json."""
    input_mtimes: dict[str, float] = field(default_factory=dict)
    """Checked on resume apart from the fingerprint, so a moved folder (times kept) still resumes."""
    seconds: dict[str, float] = field(default_factory=dict)
    """How long each part of planning took (not saved: the plan's content does not depend on it)."""
    links: list[dict[str, str]] = field(default_factory=list)
    """Symbolic links followed out of the input (see ``Catalogue.links``), for run_report.json."""

    def forget_images(self) -> None:
        """Keep shard summaries only: the workers read the images from the saved plan, and a
        launcher holding 1.33 M planned images would keep ~800 MB through the whole write phase."""
        self.shards = [shard.summary() for shard in self.shards]

    def split_shards(self, split: str) -> list[Shard]:
        return [shard for shard in self.shards if shard.split == split]


def class_table(classes: Iterable[devkit.Synset]) -> dict[int, tuple[str, str]]:
    """Slim label -> (synset, text), the per-record class features."""
    return {label: (s.wnid, s.words) for label, s in enumerate(classes, start=1)}
