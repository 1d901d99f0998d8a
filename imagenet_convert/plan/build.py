"""Building a plan: the layout's catalogue checked, each split's labels and boxes read, and its
images dealt to shards by the seeded permutation; also what the plan's fingerprint covers."""

from __future__ import annotations

import array
import contextlib
import ctypes
import gc
import hashlib
import itertools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from imagenet_convert.errors import UsageError, shown
from imagenet_convert.format.filenames import shard_name
from imagenet_convert.inputs import boxes
from imagenet_convert.inputs.layouts import Layout
from imagenet_convert.inputs.layouts.catalogue import Catalogue, XmlFiles
from imagenet_convert.inputs.layouts.official import ARCHIVES
from imagenet_convert.inputs.layouts.table import ImageTable
from imagenet_convert.inputs.layouts.tree import file_size, special_file
from imagenet_convert.plan.model import Plan, PlanError, PlannedRows, PlanOptions, Shard, SplitImages
from imagenet_convert.plan.sharding import shard_rows
from imagenet_convert.plan.store import FORMAT_VERSION
from imagenet_convert.storage.output import json_bytes


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
