"""The conversion plan: which image goes to which shard, with its label and boxes.

The plan is built once from the archives' headers, the devkit and the box XML, then saved in the
output folder, one small JSON file per shard, so any worker on any machine can write its shard
from its own file, and a rerun resumes without indexing again.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from apache_beam.io.filesystems import FileSystems

from imagenet_convert import archives, boxes, devkit, filenames
from imagenet_convert.archives import ArchiveError, Member
from imagenet_convert.filenames import shard_name
from imagenet_convert.output import OutputDir, json_bytes
from imagenet_convert.sharding import assign_shards

FORMAT_VERSION = 2
"""2: a shard's images in the seeded permutation's order, as Slim writes them (1: archive order)."""
ARCHIVES = {
    "train": "ILSVRC2012_img_train.tar",
    "validation": "ILSVRC2012_img_val.tar",
    "devkit": "ILSVRC2012_devkit_t12.tar.gz",
    "train_boxes": "ILSVRC2012_bbox_train_v2.tar.gz",
    "validation_boxes": "ILSVRC2012_bbox_val_v3.tgz",
}
SPLITS = ("train", "validation")
INDEX_THREADS = 32
"""Class tars indexed at once on object storage, where each tar header costs a request."""
RECORD_OVERHEAD = 600
"""Bytes a record adds to its image (features, framing): for space estimates only."""


class PlanError(ArchiveError):
    """The inputs cannot be planned into a conversion (missing pieces, inconsistent labels...)."""


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
    offset: int
    size: int
    label: int
    boxes: tuple[boxes.Box, ...] = ()


@dataclass
class Shard:
    """One output file and the images it will hold, in the order they are written.

    That is the seeded permutation's order, as in Slim's shards: records are shuffled inside every
    shard, not only across shards. The writer queues the reads in offset order itself.
    """

    name: str
    split: str
    archive: str
    images: list[PlannedImage]

    @property
    def image_bytes(self) -> int:
        return sum(image.size for image in self.images)

    def to_json(self) -> dict[str, Any]:
        images = [[i.filename, i.offset, i.size, i.label, [list(b) for b in i.boxes]] for i in self.images]
        return {"name": self.name, "split": self.split, "archive": self.archive, "images": images}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Shard:
        images = [PlannedImage(f, o, s, label, tuple(map(tuple, b))) for f, o, s, label, b in value["images"]]
        return cls(value["name"], value["split"], value["archive"], images)


@dataclass
class Plan:
    """The whole conversion: classes, shards, and what planning noticed."""

    fingerprint: str
    options: PlanOptions
    inputs: dict[str, int]
    classes: list[devkit.Synset]
    shards: list[Shard]
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    input_mtimes: dict[str, float] = field(default_factory=dict)
    """Checked on resume apart from the fingerprint, so a moved folder (times kept) still resumes."""
    seconds: dict[str, float] = field(default_factory=dict)
    """How long each part of planning took (not saved: the plan's content does not depend on it)."""

    def split_shards(self, split: str) -> list[Shard]:
        return [shard for shard in self.shards if shard.split == split]

    def manifest(self) -> dict[str, Any]:
        """What is saved as ``plan.json`` (the shards' images go to their own files)."""
        shards = [
            {"name": s.name, "split": s.split, "num_images": len(s.images), "image_bytes": s.image_bytes}
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
        }


def find_inputs(input_dir: str, options: PlanOptions) -> dict[str, int]:
    """{archive name: size} of the downloads present in ``input_dir``; errors say what is missing."""
    try:
        found = FileSystems.match([FileSystems.join(input_dir, "*")])[0].metadata_list
    except Exception as exc:  # BeamIOError and friends, by scheme
        raise PlanError(f"{input_dir}: cannot list the input folder ({exc})") from None
    sizes = {meta.path.rsplit("/", 1)[-1]: meta.size_in_bytes for meta in found}
    if not sizes:
        raise PlanError(
            f"{input_dir}: no such folder, or it is empty; point --input at the folder holding "
            f"{ARCHIVES['train']}, {ARCHIVES['validation']} and {ARCHIVES['devkit']}"
        )
    needed = ["devkit", *options.splits]
    missing = [ARCHIVES[key] for key in needed if ARCHIVES[key] not in sizes]
    if missing:
        present = ", ".join(sorted(sizes)[:8]) + (" ..." if len(sizes) > 8 else "")
        raise PlanError(
            f"{input_dir}: missing {', '.join(missing)} (found: {present}); the downloads must keep "
            "their official names, or choose fewer --splits"
        )
    wanted = {ARCHIVES[key] for key in ("devkit", "train_boxes", "validation_boxes", *options.splits)}
    if options.validation_labels:
        path = options.validation_labels
        try:
            match = FileSystems.match([path])[0].metadata_list
        except Exception:  # BeamIOError and friends, by scheme
            match = []
        if not match:
            raise PlanError(f"{path}: --validation-labels file not found")
        name = path.rsplit("/", 1)[-1]  # inputs are named, not located: a moved folder still resumes
        sizes[name] = match[0].size_in_bytes
        wanted.add(name)
    return {name: size for name, size in sorted(sizes.items()) if name in wanted}


def fingerprint(inputs: dict[str, int], options: PlanOptions) -> str:
    """A digest of everything that determines the output: same digest, same bytes."""
    payload = {"format_version": FORMAT_VERSION, "inputs": inputs, "options": asdict(options)}
    return hashlib.sha256(json_bytes(payload)).hexdigest()


def _train_images(
    input_dir: str, kit: devkit.Devkit, options: PlanOptions, on_class: Callable[[str, int, int], None] | None
) -> tuple[dict[str, tuple[str, Member]], list[str]]:
    archive = ARCHIVES["train"]
    path = FileSystems.join(input_dir, archive)
    per_class = archives.index_train(
        path, archive, on_class, threads=1 if "://" not in path else INDEX_THREADS
    )
    leaves = {synset.wnid for synset in kit.classes}
    unknown = sorted(set(per_class) - leaves)
    if unknown:
        raise PlanError(
            f"{archive}: class tar {unknown[0]}.tar is not one of the devkit's {len(leaves)} leaf classes "
            "(is the devkit from another release?)"
        )
    warnings = []
    missing = sorted(leaves - set(per_class))
    if missing:
        message = f"{archive}: {len(missing)} devkit classes have no class tar (first: {missing[0]}.tar)"
        if not options.allow_missing_classes:
            raise PlanError(f"{message}: the download is incomplete; pass --allow-missing-classes to go on")
        warnings.append(message)
    images: dict[str, tuple[str, Member]] = {}
    for wnid, members in per_class.items():
        for member in members:
            if member.name in images:
                raise PlanError(f"{archive}: image name {member.name!r} appears twice ({wnid}.tar)")
            images[member.name] = (wnid, member)
    return images, warnings


def _validation_images(
    input_dir: str, kit: devkit.Devkit, options: PlanOptions
) -> dict[str, tuple[str, Member]]:
    archive = ARCHIVES["validation"]
    with archives.open_input(FileSystems.join(input_dir, archive)) as stream:
        members = archives.index_tar(stream, archive)
    names = sorted(member.name for member in members)
    if len(set(names)) != len(names):
        duplicate = next(a for a, b in zip(names, names[1:], strict=False) if a == b)
        raise PlanError(f"{archive}: image name {duplicate!r} appears twice")
    wnids = kit.validation_wnids
    if options.validation_labels:
        given = devkit.read_validation_labels(options.validation_labels)
        devkit.check_validation_labels(wnids, given, options.validation_labels)
    if len(wnids) != len(names):
        raise PlanError(
            f"{ARCHIVES['devkit']}: the ground truth has {len(wnids)} lines but {archive} holds "
            f"{len(names)} images; the devkit and the validation tar do not belong together"
        )
    by_name = {member.name: member for member in members}
    # The ground truth's line i is the i-th image in ascending name order, not in tar order.
    return {name: (wnid, by_name[name]) for name, wnid in zip(names, wnids, strict=True)}


def _read_boxes(
    path: str,
    archive: str,
    images: dict[str, tuple[str, Member]],
    challenge: set[str],
    options: PlanOptions,
    counts: Counter,
    warnings: list[str],
) -> dict[str, tuple[boxes.Box, ...]]:
    found: dict[str, tuple[boxes.Box, ...]] = {}
    for name, data in archives.iter_small_members(path, archive):
        if not name.endswith(".xml"):
            continue
        image = boxes.image_name_for_xml(name)
        if image not in images:
            counts["xml_without_image"] += 1
            continue
        try:
            annotation = boxes.parse_annotation(data)
        except boxes.BoxXMLError as exc:
            message = f"{archive}: {name}: {exc}"
            if options.strict:
                raise PlanError(f"{message} (--strict)") from None
            counts["xml_skipped"] += 1
            warnings.append(f"{message}; skipped")
            continue
        kept = boxes.slim_boxes(annotation, images[image][0], challenge)
        counts["boxes_dropped"] += len(annotation.raw_boxes) - len(kept)
        if kept:
            found[image] = tuple(kept)
    return found


def _shards(
    split: str, images: dict[str, tuple[str, Member]], labels: dict[str, int],
    found_boxes: dict[str, tuple[boxes.Box, ...]], options: PlanOptions,
) -> list[Shard]:  # fmt: skip
    planned = [
        PlannedImage(name, member.offset, member.size, labels[wnid], found_boxes.get(name, ()))
        for name, (wnid, member) in sorted(images.items())
    ]
    count = options.shards(split)
    groups = assign_shards(planned, options.seed, count, split)
    return [
        Shard(shard_name(split, i, count), split, ARCHIVES[split], group) for i, group in enumerate(groups)
    ]


def _split_boxes(
    input_dir: str, split: str, images: dict[str, tuple[str, Member]], challenge: set[str],
    options: PlanOptions, inputs: dict[str, int], counts: Counter, warnings: list[str],
) -> dict[str, tuple[boxes.Box, ...]]:  # fmt: skip
    """Slim writes train boxes only; validation boxes are an opt-in improvement."""
    archive = ARCHIVES[f"{split}_boxes"]
    if split != "train" and not options.validation_boxes:
        return {}
    if archive not in inputs:
        warnings.append(f"{archive} not found: {split} records will have no boxes")
        return {}
    path = FileSystems.join(input_dir, archive)
    return _read_boxes(path, archive, images, challenge, options, counts, warnings)


def build_plan(
    input_dir: str, options: PlanOptions, inputs: dict[str, int],
    on_class: Callable[[str, int, int], None] | None = None,
) -> Plan:  # fmt: skip
    """Index the archives and plan every shard; ``Plan.seconds`` says how long each part took."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    kit = devkit.load_devkit(FileSystems.join(input_dir, ARCHIVES["devkit"]), ARCHIVES["devkit"])
    labels = kit.labels()
    warnings: list[str] = []
    counts: Counter = Counter()
    shards: list[Shard] = []
    seconds["read_devkit"], started = round(time.monotonic() - started, 3), time.monotonic()
    for split in options.splits:
        if split == "train":
            images, missing = _train_images(input_dir, kit, options, on_class)
            warnings += missing
        else:
            images = _validation_images(input_dir, kit, options)
        seconds[f"index_{split}"], started = round(time.monotonic() - started, 3), time.monotonic()
        found_boxes = _split_boxes(input_dir, split, images, set(labels), options, inputs, counts, warnings)
        seconds[f"boxes_{split}"], started = round(time.monotonic() - started, 3), time.monotonic()
        counts[f"{split}_images"] = len(images)
        counts[f"{split}_images_with_boxes"] = len(found_boxes)
        shards += _shards(split, images, labels, found_boxes, options)
        seconds[f"shard_plan_{split}"], started = round(time.monotonic() - started, 3), time.monotonic()
    plan = Plan(
        fingerprint(inputs, options), options, inputs, list(kit.classes), shards, warnings, dict(counts)
    )
    plan.seconds = seconds
    return plan


def save_plan(out: OutputDir, plan: Plan) -> None:
    """Shard files first, the manifest last: a plan is complete once ``plan.json`` exists."""
    for shard in plan.shards:
        data = json_bytes(shard.to_json(), compact=True)
        out.write_atomic(out.path(filenames.shard_plan(shard.name)), data)
    out.write_json(out.path(filenames.PLAN_MANIFEST), plan.manifest())


def load_manifest(out: OutputDir) -> dict[str, Any] | None:
    path = out.path(filenames.PLAN_MANIFEST)
    return out.read_json(path) if out.exists(path) else None


def load_shard(out: OutputDir, name: str) -> Shard:
    return Shard.from_json(out.read_json(out.path(filenames.shard_plan(name))))


def plan_from_manifest(out: OutputDir, manifest: dict[str, Any]) -> Plan:
    """Rebuild the plan saved by an earlier run (no archive is read)."""
    options = PlanOptions(**{**manifest["options"], "splits": tuple(manifest["options"]["splits"])})
    shards = [load_shard(out, entry["name"]) for entry in manifest["shards"]]
    classes = [devkit.Synset(**synset) for synset in manifest["classes"]]
    return Plan(
        manifest["fingerprint"], options, manifest["inputs"], classes, shards,
        manifest["warnings"], manifest["counts"], manifest.get("input_mtimes", {}),
    )  # fmt: skip


def class_table(classes: Iterable[devkit.Synset]) -> dict[int, tuple[str, str]]:
    """Slim label -> (synset, text), the per-record class features."""
    return {label: (s.wnid, s.words) for label, s in enumerate(classes, start=1)}
