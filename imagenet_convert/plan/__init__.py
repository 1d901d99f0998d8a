"""The conversion plan: which image goes to which shard, with its label and boxes.

The plan is built once from a layout's catalogue (the archives' headers or the folders' listing,
the devkit and the box XML), then saved in the output folder, one small JSON file per shard, so
any worker on any machine can write its shard from its own file, and a rerun resumes without
indexing again. Nothing here knows which layout the images came from: each carries a locator.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import gc
import hashlib
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from imagenet_convert.errors import UsageError, shown
from imagenet_convert.format import filenames
from imagenet_convert.format.filenames import shard_name
from imagenet_convert.inputs import boxes, devkit
from imagenet_convert.inputs.layouts import Layout
from imagenet_convert.inputs.layouts.catalogue import Catalogue, XmlFiles
from imagenet_convert.inputs.layouts.locators import Locator, read_file
from imagenet_convert.inputs.layouts.official import ARCHIVES
from imagenet_convert.inputs.layouts.table import ImageTable
from imagenet_convert.inputs.layouts.tree import file_size, special_file
from imagenet_convert.plan.sharding import shard_rows
from imagenet_convert.storage.output import OutputDir, json_bytes

__all__ = ["ARCHIVES", "Plan", "PlanOptions", "PlannedImage", "Shard", "build_plan", "find_inputs"]

FORMAT_VERSION = 3
"""3: the shards' images saved in one file (2: a file per shard; 1: records in archive order)."""
SPLITS = ("train", "validation")
RECORD_OVERHEAD = 600
"""Bytes a record adds to its image (features, framing): for space estimates only."""


class PlanError(Exception):
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
    boxes: tuple[boxes.Box, ...] = ()


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

    def manifest(self) -> dict[str, Any]:
        """What is saved as ``plan.json`` (the shards' images go to ``filenames.PLAN_SHARDS``)."""
        shards = [
            {
                "name": s.name,
                "split": s.split,
                "num_images": s.num_images,
                "image_bytes": s.image_bytes,
                "plan": list(s.plan_span or ()),
            }
            for s in self.shards
        ]
        return {
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "options": asdict(self.options),
            "inputs": self.inputs,
            "input_mtimes": self.input_mtimes,
            "classes": [asdict(synset) for synset in self.classes],
            "shards": shards,
            "warnings": self.warnings,
            "counts": self.counts,
            "skipped": self.skipped,
            "links_outside_input": self.links,
        }


def find_inputs(layout: Layout, options: PlanOptions) -> dict[str, Any]:
    """The layout's name and input files (names and sizes, or a folder's digest): the fingerprint's input."""
    inputs: dict[str, Any] = {"layout": layout.name, **layout.inputs(options.splits)}
    if options.validation_labels:
        path = options.validation_labels
        special = special_file(path)
        if special:
            raise UsageError(f"{shown(path)}: the --validation-labels file is {special}")
        size = file_size(path)
        if size is None:
            raise UsageError(f"{shown(path)}: --validation-labels file not found")
        name = path.rsplit("/", 1)[-1]  # inputs are named, not located: a moved folder still resumes
        inputs[name] = size
    return inputs


def fingerprint(inputs: dict[str, Any], options: PlanOptions) -> str:
    """A digest of everything that determines the output: same digest, same bytes."""
    payload = {"format_version": FORMAT_VERSION, "inputs": inputs, "options": asdict(options)}
    return hashlib.sha256(json_bytes(payload)).hexdigest()


def _check_classes(catalogue: Catalogue, options: PlanOptions) -> list[str]:
    """Every train class must be a known class, and every known class should have train images."""
    if "train" not in catalogue.images:
        return []
    declared = {synset.wnid for synset in catalogue.classes}
    found = catalogue.images["train"].found_wnids()
    unknown = sorted(found - declared)
    if unknown:
        raise PlanError(
            f"train class {unknown[0]} ({unknown[0]}.tar or folder {unknown[0]}/) is not one of the "
            f"{len(declared)} classes of {catalogue.class_source} (is it from another release?)"
        )
    missing = sorted(declared - found)
    if not missing:
        return []
    message = f"{len(missing)} classes of {catalogue.class_source} have no train images (first: {missing[0]})"
    if not options.allow_missing_classes:
        raise PlanError(f"{message}: the download is incomplete; pass --allow-missing-classes to go on")
    return [message]


def _read_boxes(
    xml: XmlFiles,
    table: ImageTable,
    challenge: set[str],
    options: PlanOptions,
    counts: Counter,
    warnings: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's boxes as (box_start, box_count, box_values): see :class:`SplitImages`."""

    def wanted() -> Iterator[tuple[tuple[str, int], str, bytes]]:
        found = (item for item in xml() if item[1].endswith(".xml"))
        for batch in iter(lambda: list(itertools.islice(found, boxes.BATCH)), []):
            rows = table.find_many([boxes.image_name_for_xml(name) for _, name, _ in batch])
            for (where, _, data), row in zip(batch, rows.tolist(), strict=True):
                if row < 0:
                    counts["xml_without_image"] += 1
                    continue
                yield (where, row), table.wnid(row), data

    start, count, values = np.zeros(len(table), np.int64), np.zeros(len(table), np.int32), array.array("d")
    for (where, row), kept in boxes.slim_boxes_of_many(wanted(), challenge, os.cpu_count() or 1):
        if isinstance(kept, boxes.BoxXMLError):
            message = f"{where}: {kept}"
            if options.strict:
                raise PlanError(f"{message} (--strict)") from None
            counts["xml_skipped"] += 1
            warnings.append(f"{message}; skipped")
            continue
        counts["boxes_dropped"] += kept[1]
        if kept[0]:
            start[row], count[row] = len(values) // 4, len(kept[0])
            values.extend(value for box in kept[0] for value in box)
    return start, count, np.frombuffer(values, np.float64).reshape(-1, 4)


def _split_images(
    catalogue: Catalogue,
    split: str,
    labels: dict[str, int],
    options: PlanOptions,
    counts: Counter,
    warnings: list[str],
) -> SplitImages:
    """Labels and boxes of the split's rows. Slim writes train boxes only; validation boxes are an
    opt-in improvement."""
    table = catalogue.images[split]
    label = np.array([labels[wnid] for wnid in table.wnids], np.int32)[table.classes]
    found = np.zeros(len(table), np.int64), np.zeros(len(table), np.int32), np.zeros((0, 4))
    if split == "train" or options.validation_boxes:
        source = catalogue.xml.get(split)
        if source is None:
            warnings.append(
                f"{ARCHIVES[f'{split}_boxes']} not found (nor its extracted XML): "
                f"{split} records will have no boxes"
            )
        else:
            found = _read_boxes(source[1], table, set(labels), options, counts, warnings)
    return SplitImages(table, label, *found)


def _shards(split: str, images: SplitImages, options: PlanOptions) -> list[Shard]:
    """The table is in name order already: the canonical order the seeded permutation starts from."""
    count = options.shards(split)
    groups = shard_rows(len(images.table), options.seed, count, split)
    return [
        Shard(shard_name(split, i, count), split, PlannedRows(images, rows)) for i, rows in enumerate(groups)
    ]


def build_plan(
    layout: Layout,
    options: PlanOptions,
    inputs: dict[str, Any],
    on_class: Callable[[str, int, int], None] | None = None,
) -> Plan:
    """Catalogue the input and plan every shard; ``Plan.seconds`` says how long each part took."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    catalogue = layout.catalogue(options.splits, on_class)
    warnings = _check_classes(catalogue, options) + catalogue.warnings
    labels = {synset.wnid: index for index, synset in enumerate(catalogue.classes, start=1)}
    counts: Counter = Counter(catalogue.counts)
    shards: list[Shard] = []
    seconds["catalogue"], started = round(time.monotonic() - started, 3), time.monotonic()
    for split in options.splits:
        images = _split_images(catalogue, split, labels, options, counts, warnings)
        seconds[f"boxes_{split}"], started = round(time.monotonic() - started, 3), time.monotonic()
        counts[f"{split}_images"] = len(images.table)
        counts[f"{split}_images_with_boxes"] = int(np.count_nonzero(images.box_count))
        shards += _shards(split, images, options)
        seconds[f"shard_plan_{split}"], started = round(time.monotonic() - started, 3), time.monotonic()
    plan = Plan(
        fingerprint(inputs, options),
        options,
        inputs,
        list(catalogue.classes),
        shards,
        warnings,
        dict(counts),
        catalogue.skipped,
        links=catalogue.links,
    )
    plan.seconds = seconds
    return plan


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Planning makes millions of small objects that all live until the plan is saved, and no
    garbage cycles: the cyclic collector would walk them again and again (at full cardinality a
    third of planning's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def give_back_memory() -> None:
    """Return the heap planning freed to the OS: glibc keeps it (~50 MB at full cardinality), and
    the write phase would carry it. A no-op where the C library has no ``malloc_trim``."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def save_plan(out: OutputDir, plan: Plan) -> None:
    """The shards' images first, the manifest last: a plan is complete once ``plan.json`` exists.

    One file of a line per shard, not a file per shard: creating a file cost ~0.6 ms here and
    ~0.4 s on S3 (SeaweedFS on loopback), i.e. minutes for 1,152 shards.
    """
    offset = 0
    with out.atomic(out.path(filenames.PLAN_SHARDS)) as stream:
        for shard in plan.shards:
            line = json_bytes(shard.to_json(), compact=True) + b"\n"
            stream.write(line)
            shard.plan_span = (offset, len(line))
            offset += len(line)
    out.write_json(out.path(filenames.PLAN_MANIFEST), plan.manifest())


def load_manifest(out: OutputDir) -> dict[str, Any] | None:
    path = out.path(filenames.PLAN_MANIFEST)
    return out.read_json(path) if out.exists(path) else None


def load_shard(out: OutputDir, span: tuple[int, int]) -> Shard:
    """A shard's images from the saved plan: one exact ranged read of its line."""
    line = read_file(out.root, Locator(filenames.PLAN_SHARDS, *span), "the saved plan")
    return Shard.from_json(json.loads(line))


def plan_from_manifest(manifest: dict[str, Any]) -> Plan:
    """The plan saved by an earlier run, as shard summaries (no archive and no shard file is read)."""
    options = PlanOptions(**{**manifest["options"], "splits": tuple(manifest["options"]["splits"])})
    shards = [
        Shard(e["name"], e["split"], [], e["num_images"], e["image_bytes"], tuple(e["plan"]))
        for e in manifest["shards"]
    ]
    classes = [devkit.Synset(**synset) for synset in manifest["classes"]]
    return Plan(
        manifest["fingerprint"],
        options,
        manifest["inputs"],
        classes,
        shards,
        manifest["warnings"],
        manifest["counts"],
        manifest.get("skipped", []),
        manifest.get("input_mtimes", {}),
        links=manifest.get("links_outside_input", []),
    )


def class_table(classes: Iterable[devkit.Synset]) -> dict[int, tuple[str, str]]:
    """Slim label -> (synset, text), the per-record class features."""
    return {label: (s.wnid, s.words) for label, s in enumerate(classes, start=1)}
