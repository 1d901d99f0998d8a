"""``python -m imagenet_convert verify OUTPUT``: check a converted folder against its metadata.

A conversion reads 150 GB and runs for hours; its user must be able to trust the result before
training on it for days. This re-reads every shard (TFRecord CRCs, sha256, record counts), parses
every record as TF-Slim's format, and compares the totals and per-class counts with the metadata
the run wrote. ``--decode`` also decodes every image (slow, so shards are spread over processes);
``--check-archives`` compares the input downloads with the official ILSVRC2012 sizes and md5 sums.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from google.protobuf.message import DecodeError
from PIL import Image
from tqdm import tqdm

from imagenet_convert import filenames, tfds_metadata
from imagenet_convert.archives import ArchiveError
from imagenet_convert.beam_args import parse_with_beam_options
from imagenet_convert.errors import UsageError
from imagenet_convert.layouts import open_layout
from imagenet_convert.output import OutputDir
from imagenet_convert.plan import ARCHIVES, SPLITS
from imagenet_convert.record_index import FRAMING, Span, first_difference, parse_index
from imagenet_convert.records import (
    BOX_KEYS,
    CONSTANTS,
    KINDS,
    LISTS,
    SCALARS,
    TFRecordError,
    parse_features,
    read_records,
)

OFFICIAL: dict[str, tuple[int | None, str | None]] = {
    ARCHIVES["train"]: (147_897_477_120, "1d675b47d978889d74fa0da5fadfb00e"),
    ARCHIVES["validation"]: (6_744_924_160, "29b22e2961454d5413ddabcf34fc5622"),
    ARCHIVES["devkit"]: (None, "fa75699e90414af021442c21a62c3abf"),
    ARCHIVES["train_boxes"]: (None, None),
    ARCHIVES["validation_boxes"]: (None, None),
}
"""(size, md5) of the real downloads (ILSVRC2012-FACTS.md, section 1); None where none is published."""

CHUNK = 8 << 20


class VerifyError(UsageError):
    """Nothing to verify (no output folder, no metadata): a usage error, one line, exit status 2."""


@dataclass
class Problems:
    """Problems found: the first ``limit`` kept word for word, the rest only counted (bounded memory)."""

    limit: int
    items: list[str] = field(default_factory=list)
    total: int = 0

    def add(self, where: str, what: str) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(f"{where}: {what}")

    def extend(self, other: Problems) -> None:
        self.total += other.total
        self.items += other.items[: max(0, self.limit - len(self.items))]


@dataclass(frozen=True)
class Rules:
    """What every record is checked against; sent once per shard to the worker processes."""

    num_leaf_classes: int
    texts: dict[int, str] | None
    decode: bool
    max_problems: int


@dataclass
class ShardScan:
    """What reading one shard found, before it is compared with ``imagenet_convert.json``."""

    name: str
    problems: Problems
    records: int = 0
    size: int = 0
    sha256: str = ""
    complete: bool = False
    boxes: int = 0
    class_counts: Counter = field(default_factory=Counter)
    synsets: dict[int, str] = field(default_factory=dict)
    adjacent_pairs: int = 0
    same_label_pairs: int = 0
    """Neighbouring records, and those of them with one label: how well the shard is shuffled inside."""
    last_label: int | None = None


class _HashingReader:
    """Passes reads through while hashing and counting them, so CRC and sha256 cost one pass."""

    def __init__(self, stream: BinaryIO, on_bytes: Callable[[int], Any] | None):
        self._stream, self._on_bytes = stream, on_bytes
        self.digest, self.size = hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self.digest.update(data)
        self.size += len(data)
        if self._on_bytes and data:
            self._on_bytes(len(data))
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _open(path: str) -> BinaryIO:
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _count(number: int, noun: str) -> str:
    """``1 record``, ``2 records``, ``3 classes``: summaries read as sentences."""
    plural = noun + ("es" if noun.endswith(("s", "x")) else "s")
    return f"{number} {noun if number == 1 else plural}"


def _require_folder(path: str) -> None:
    """A local folder that is not there gets its own message (object stores have no folders)."""
    if "://" not in path and not os.path.isdir(path):
        raise VerifyError(f"{path}: no such folder")


def _bar(total: int, desc: str) -> tqdm:
    """A byte progress bar with rate and ETA (silent when stderr is not a terminal)."""
    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=None)


# ---------------------------------------------------------------------------------------------
# One record


def _typed(features: dict[str, tuple[str | None, list]], key: str, kind: str, add: Callable) -> list | None:
    """The values of ``key`` when it holds ``kind``, else None (and a problem)."""
    actual, values = features[key]
    if actual is None and not values and key not in SCALARS:
        return []  # an empty list written without a kind still parses as an empty VarLenFeature
    if actual != kind:
        add(f"{key} is a {actual or 'feature without values'}, Slim expects a {kind}")
        return None
    if key in SCALARS and len(values) != 1:
        add(f"{key} has {len(values)} values, Slim expects 1")
        return None
    return values


def _box_problems(values: dict[str, list | None], label: int | None, add: Callable) -> int:
    """Slim's box lists: equal lengths, normalized, non-empty, each labelled with the image label."""
    lists = [values[key] for key in (*BOX_KEYS, "image/object/bbox/label")]
    if any(v is None for v in lists):
        return 0
    lengths = {len(v) for v in lists}
    if len(lengths) > 1:
        add(f"box lists have different lengths {[len(v) for v in lists]} (xmin, ymin, xmax, ymax, label)")
        return 0
    for index, (xmin, ymin, xmax, ymax) in enumerate(zip(*lists[:4], strict=True)):
        if not all(0.0 <= v <= 1.0 for v in (xmin, ymin, xmax, ymax)):
            add(f"box {index} ({xmin:.4f}, {ymin:.4f}, {xmax:.4f}, {ymax:.4f}) is not within [0, 1]")
        elif not (xmin < xmax and ymin < ymax):
            add(f"box {index} ({xmin:.4f}, {ymin:.4f}, {xmax:.4f}, {ymax:.4f}) is empty or inverted")
    if label is not None and any(v != label for v in lists[4]):
        add(f"image/object/bbox/label {lists[4]} is not the image label {label} repeated")
    object_labels = values.get("image/object/class/label")
    if object_labels is not None and object_labels != lists[4]:
        add("image/object/class/label differs from image/object/bbox/label")
    return lengths.pop()


def _decode_problem(encoded: bytes, height: int, width: int) -> str | None:
    """Decode fully (header checks miss truncated scans) and compare with the recorded size."""
    try:
        with Image.open(io.BytesIO(encoded)) as image:
            image.load()
            kind = image.format
            size = image.convert("RGB").size
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return f"image/encoded does not decode: {exc}"
    if kind != "JPEG":
        return f"image/encoded is {kind}, but image/format says JPEG (Slim decodes it with decode_jpeg)"
    if size != (width, height):
        return f"image decodes to {size[0]}x{size[1]}, but the record says {width}x{height}"
    return None


def _schema(record: bytes, add: Callable[[str], None]) -> dict[str, list | None] | None:
    """Slim's keys, each with its values when it has the dtype Slim parses it with (else None)."""
    try:
        features = parse_features(record)
    except DecodeError:
        add("not a tf.train.Example")
        return None
    for key in sorted(set(features) - set(KINDS)):
        add(f"unexpected key {key}")
    for key in sorted((set(SCALARS) | set(LISTS)) - set(features)):
        add(f"missing key {key}")
    return {key: _typed(features, key, kind, add) if key in features else None for key, kind in KINDS.items()}


def check_record(record: bytes, rules: Rules, add: Callable[[str], None]) -> dict[str, Any] | None:
    """Check one serialized example as Slim's format; returns its scalar values and box count."""
    values = _schema(record, add)
    if values is None:
        return None
    value = {key: v[0] for key, v in values.items() if key in SCALARS and v}
    for key, constant in CONSTANTS.items():
        if key in value and value[key] != constant:
            add(f"{key} is {value[key]!r}, Slim's format has {constant!r}")
    label, text = value.get("image/class/label"), value.get("image/class/text")
    if label is not None and not 1 <= label <= rules.num_leaf_classes:
        add(f"label {label} is outside 1..{rules.num_leaf_classes}")
    expected_text = (rules.texts or {}).get(label)
    if expected_text is not None and text is not None and text.decode(errors="replace") != expected_text:
        add(f"image/class/text {text!r} differs from labels.txt's {expected_text!r} for label {label}")
    value["boxes"] = _box_problems(values, label, add)
    height, width = value.get("image/height"), value.get("image/width")
    if height is not None and width is not None and (height < 1 or width < 1):
        add(f"image size {width}x{height} is not positive")
    elif rules.decode and "image/encoded" in value and height and width:
        problem = _decode_problem(value["image/encoded"], height, width)
        if problem:
            add(problem)
    return value


# ---------------------------------------------------------------------------------------------
# One shard


def _note_record(scan: ShardScan, value: dict[str, Any], add: Callable[[str], None]) -> None:
    """Tally what the split totals are compared with; a label must always name the same synset."""
    label, synset = value.get("image/class/label"), value.get("image/class/synset")
    if label is None:
        return
    if scan.last_label is not None:
        scan.adjacent_pairs += 1
        scan.same_label_pairs += label == scan.last_label
    scan.last_label = label
    scan.class_counts[label] += 1
    scan.boxes += value["boxes"]
    if synset is not None:
        synset = synset.decode(errors="replace")
        known = scan.synsets.setdefault(label, synset)
        if known != synset:
            add(f"label {label} has synset {synset}, earlier records of this shard have {known}")


def _check_index(path: str, name: str, spans: list[Span], problems: Problems) -> None:
    """The shard's index file lists exactly its records (DALI reads by it, without CRCs)."""
    where = filenames.index_file(name)
    try:
        with _open(path) as stream:
            listed = parse_index(stream.read())
    except OSError:
        problems.add(where, "missing or unreadable; DALI reads by it: rerun the conversion to rewrite it")
        return
    except ValueError as exc:
        problems.add(where, str(exc))
        return
    difference = first_difference(listed, spans)
    if difference:
        problems.add(where, difference)


def check_shard(
    path: str, name: str, rules: Rules, on_bytes: Callable[[int], Any] | None = None,
    index_path: str | None = None,
) -> ShardScan:  # fmt: skip
    """Read one shard once: framing CRCs, sha256, size, every record's format (and image); then
    compare its index file, when given, with where the records were found."""
    scan, spans = ShardScan(name, Problems(rules.max_problems)), []
    try:
        with _open(path) as stream:
            reader = _HashingReader(stream, on_bytes)
            try:
                for index, record in enumerate(read_records(reader)):
                    spans.append((reader.size - len(record) - FRAMING, len(record) + FRAMING))
                    scan.records = index + 1

                    def add(what: str, index: int = index) -> None:
                        scan.problems.add(f"{name}: record {index}", what)

                    value = check_record(record, rules, add)
                    if value is not None:
                        _note_record(scan, value, add)
                scan.complete = True
            except TFRecordError as exc:
                scan.problems.add(name, f"{exc}; the records after it cannot be read")
                reader.drain()
    except OSError as exc:
        scan.problems.add(name, f"cannot be read: {exc}")
        return scan
    scan.size, scan.sha256 = reader.size, reader.digest.hexdigest()
    if scan.complete and index_path is not None:
        _check_index(index_path, name, spans, scan.problems)
    return scan


# ---------------------------------------------------------------------------------------------
# The folder


def _require(info: Any, source: str) -> None:
    """Fail early, with the missing key's name, on metadata this tool cannot have written."""
    top = ("num_classes", "num_leaf_classes", "splits")
    per_split = ("num_examples", "shards", "class_counts")
    per_shard = ("name", "num_records", "sha256")
    missing = [key for key in top if key not in info] if isinstance(info, dict) else ["everything"]
    for split, entry in (info.get("splits") or {}).items() if not missing else ():
        missing += [f"splits.{split}.{key}" for key in per_split if key not in entry]
        for index, shard in enumerate(entry.get("shards", [])):
            missing += [f"splits.{split}.shards[{index}].{key}" for key in per_shard if key not in shard]
    if missing:
        raise VerifyError(
            f"{source}: not written by 'imagenet_convert run' (missing {', '.join(missing[:3])})"
        )


def load_info(out: OutputDir) -> dict[str, Any]:
    """Our metadata (``imagenet_convert.json``, or ``dataset_info.json`` from older versions), what a
    folder of bare Slim shards allows, or a VerifyError saying why there is none."""
    for name in filenames.INFO_FILES:
        path = out.path(name)
        if not out.exists(path):
            continue
        try:
            info = json.loads(out.read_bytes(path))
        except (ValueError, OSError) as exc:
            raise VerifyError(f"{path}: cannot be read as JSON ({exc})") from None
        if name == filenames.INFO or filenames.is_ours(info):  # else TFDS's dataset_info.json: look on
            _require(info, path)
            return info
    path = out.path(filenames.INFO)
    _require_folder(out.root)
    if out.exists(out.path(filenames.PLAN_MANIFEST)):
        raise VerifyError(f"{path}: not found; the conversion has not finished: run it again to resume")
    bare = _bare_shards_info(out)
    if bare:
        return bare
    raise VerifyError(f"{path}: not found; is this the --output folder of 'python -m imagenet_convert run'?")


def _bare_shards_info(out: OutputDir) -> dict[str, Any] | None:
    """What can be checked in shards without our metadata (Slim's own script writes none): the records,
    against its labels.txt or Slim's 1000 classes; there are no counts or digests to compare with."""
    files = _shard_files(out, SPLITS)
    if not files:
        return None
    labels = out.path(filenames.LABELS)
    leaves = len(out.read_bytes(labels).splitlines()) - 1 if out.exists(labels) else 1000
    splits = {split: sorted(fnmatch.filter(files, filenames.shard_pattern(split))) for split in SPLITS}
    return {
        "name": f"shards without {filenames.INFO}", "format": "records checked, no metadata to compare with",
        "num_classes": leaves + 1, "num_leaf_classes": leaves, "bare": True,
        "splits": {s: {"shards": [{"name": n} for n in names]} for s, names in splits.items() if names},
    }  # fmt: skip


def check_labels(out: OutputDir, info: dict[str, Any], problems: Problems) -> dict[int, str] | None:
    """labels.txt as Slim's: ``0:background`` then ``i:words`` for i in 1..num_leaf_classes."""
    path = out.path(filenames.LABELS)
    if info.get("bare") and not out.exists(path):
        return None
    try:
        lines = out.read_bytes(path).decode().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(filenames.LABELS, f"cannot be read ({exc})")
        return None
    if info["num_classes"] != info["num_leaf_classes"] + 1:
        problems.add(filenames.INFO, "num_classes is not num_leaf_classes + 1 (background)")
    if len(lines) != info["num_classes"]:
        problems.add(filenames.LABELS, f"{len(lines)} lines, but num_classes is {info['num_classes']}")
    texts = {}
    for number, line in enumerate(lines):
        label, _, text = line.partition(":")
        if label != str(number) or (number == 0 and text != "background"):
            problems.add(filenames.LABELS, f"line {number + 1} is {line!r}, expected '{number}:...'")
        texts[number] = text
    texts.pop(0, None)
    return texts


def _shard_files(out: OutputDir, splits: Iterable[str]) -> dict[str, tuple[str, int]]:
    """{name: (path, size)} of every file a Slim ``<split>-*`` pattern would read."""
    found = {}
    for split in sorted(set(splits) | set(SPLITS)):
        for path, size in out.sizes(out.path(filenames.shard_pattern(split))).items():
            found[path.rstrip("/").rsplit("/", 1)[-1]] = (path, size)
    return found


def check_listing(
    split: str, entry: dict[str, Any], files: dict[str, tuple[str, int]], problems: Problems
) -> list[tuple[str, str]]:
    """The split's listed shards that are there (name, path); missing and misnamed ones are problems."""
    shards, present = entry["shards"], []
    if entry.get("num_shards", len(shards)) != len(shards):
        problems.add(split, f"num_shards is {entry['num_shards']} but {len(shards)} shards are listed")
    for index, shard in enumerate(shards):
        name = shard["name"]
        if name != filenames.shard_name(split, index, len(shards)):
            problems.add(name, f"listed as {split} shard {index} of {len(shards)}: not Slim's name for it")
        if name not in files:
            problems.add(name, f"listed in {filenames.INFO} but missing")
            continue
        path, size = files[name]
        if "bytes" in shard and shard["bytes"] != size:
            problems.add(name, f"{size} bytes, {filenames.INFO} says {shard['bytes']}")
        present.append((name, path))
    return present


def check_unlisted(info: dict[str, Any], files: dict[str, tuple[str, int]], problems: Problems) -> None:
    """Shard-named files the metadata does not list: Slim's ``train-*`` pattern would read them too."""
    listed = Counter(shard["name"] for entry in info["splits"].values() for shard in entry["shards"])
    for name in sorted(name for name, count in listed.items() if count > 1):
        problems.add(name, f"listed more than once in {filenames.INFO}")
    for name in sorted(set(files) - set(listed)):
        problems.add(name, f"not listed in {filenames.INFO}, but a train-*/validation-* pattern reads it")


def _run_scans(
    out: OutputDir, shards: list[tuple[str, str]], sizes: dict[str, int], rules: Rules, workers: int,
    beam_args: list[str], bare: bool = False,
) -> dict[str, ShardScan]:  # fmt: skip
    """Scan shards (and their index files) in this process (fine-grained progress) or spread over
    worker processes; bare Slim shards have index files only if someone wrote them."""
    total, desc = sum(sizes[name] for name, _ in shards), "decode shards" if rules.decode else "check shards"
    indexes = {name: out.path(filenames.index_file(name)) for name, _ in shards}
    if bare:
        indexes = {name: path if out.exists(path) else None for name, path in indexes.items()}
    if workers <= 1 or len(shards) <= 1:
        with _bar(total, desc) as bar:
            return {name: check_shard(path, name, rules, bar.update, indexes[name]) for name, path in shards}
    scans = {}
    with ProcessPoolExecutor(
        min(workers, len(shards)), initializer=_init_worker, initargs=(beam_args,)
    ) as pool:
        # Submit before the bar exists: workers fork from a process without tqdm's monitor thread.
        futures = {
            pool.submit(check_shard, path, name, rules, None, indexes[name]): name for name, path in shards
        }
        with _bar(total, desc) as bar:
            for future in as_completed(futures):
                scans[futures[future]] = future.result()
                bar.update(sizes[futures[future]])
    return scans


def _init_worker(beam_args: list[str]) -> None:
    FileSystems.set_options(PipelineOptions(beam_args))


SORTED_INSIDE = 3.0
"""A same-label share of neighbours above this many times a shuffle's means class-sorted shards."""


@dataclass(frozen=True)
class Mixing:
    """How often neighbouring records of a shard share a label, next to what a shuffle gives.

    Readers interleave a few shards through a small buffer: class-sorted shards (as imagenet-convert
    0.1 wrote them) give batches of a few classes, and nothing else would tell the user.
    """

    same: float
    shuffled: float
    """sum n_i (n_i - 1) / (N (N - 1)) over the split's class counts n_i."""

    @property
    def sorted_inside(self) -> bool:
        return self.same > SORTED_INSIDE * self.shuffled

    def text(self) -> str:
        return f"neighbours share a label {self.same:.1%} of the time (shuffled: {self.shuffled:.1%})"

    def warning(self, split: str) -> str:
        return (
            f"warning: {split}: {self.same:.1%} of neighbouring records share a label, "
            f"{self.same / self.shuffled:.1f}x a shuffle's {self.shuffled:.1%}: the shards are sorted by "
            "class inside, so training batches mix few classes; convert again with this version "
            "(run ... --overwrite), which shuffles inside every shard as Slim does"
        )


def mixing(scans: Iterable[ShardScan]) -> Mixing | None:
    """The split's mixing figure from its scans (None when it has too few records to tell)."""
    scans = list(scans)
    pairs = sum(scan.adjacent_pairs for scan in scans)
    counts = sum((scan.class_counts for scan in scans), Counter())
    total = sum(counts.values())
    if not pairs or total < 2:
        return None
    shuffled = sum(n * (n - 1) for n in counts.values()) / (total * (total - 1))
    return Mixing(sum(scan.same_label_pairs for scan in scans) / pairs, shuffled)


@dataclass
class SplitSummary:
    """One split's line of the human summary, and its problems."""

    split: str
    shards: int
    problems: Problems
    shards_ok: int = 0
    records: int = 0
    boxes: int = 0
    classes: int = 0
    note: str = ""
    mixing: Mixing | None = None

    def line(self) -> str:
        counts = ((self.records, "record"), (self.classes, "class"), (self.boxes, "box"))
        counts += ((self.problems.total, "problem"),)
        return (
            f"{self.split:>10}: {self.shards_ok}/{_count(self.shards, 'shard')} ok, "
            + ", ".join(_count(number, noun) for number, noun in counts)
            + (f"; {self.mixing.text()}" if self.mixing else "")
            + self.note
        )


def _compare_shard(entry: dict[str, Any], scan: ShardScan, problems: Problems) -> None:
    name = entry["name"]
    if scan.complete and scan.records != entry.get("num_records", scan.records):
        problems.add(name, f"{scan.records} records, {filenames.INFO} says {entry['num_records']}")
    if scan.sha256 and scan.sha256 != entry.get("sha256", scan.sha256):
        problems.add(name, f"sha256 {scan.sha256} differs from {filenames.INFO}'s {entry['sha256']}")


def _compare_split(split: str, entry: dict[str, Any], scans: list[ShardScan], problems: Problems) -> None:
    """Totals, box count and per-class counts of a split whose shards were all read to the end."""
    boxes = sum(scan.boxes for scan in scans)
    if "num_boxes" in entry and boxes != entry["num_boxes"]:
        problems.add(split, f"{boxes} boxes, {filenames.INFO} says {entry['num_boxes']}")
    actual = sum((scan.class_counts for scan in scans), Counter())
    expected = {int(label): count for label, count in entry["class_counts"].items()}
    for label in sorted(set(actual) | set(expected)):
        if actual.get(label, 0) != expected.get(label, 0):
            says = expected.get(label, 0)
            problems.add(
                split, f"class {label}: {actual.get(label, 0)} records, {filenames.INFO} says {says}"
            )


def summarize_split(summary: SplitSummary, entry: dict[str, Any], scans: dict[str, ShardScan]) -> None:
    """Compare a split's scans with its metadata; class counts only when no shard is missing or broken,
    since the gap is reported already and would otherwise show up again as every class it touches."""
    listed = sum(shard.get("num_records", 0) for shard in entry["shards"])
    if listed != entry.get("num_examples", listed):
        summary.problems.add(
            summary.split, f"num_examples is {entry['num_examples']}, its shards hold {listed}"
        )
    read = []
    for shard in (shard for shard in entry["shards"] if shard["name"] in scans):
        scan, before = scans[shard["name"]], summary.problems.total
        summary.problems.extend(scan.problems)
        _compare_shard(shard, scan, summary.problems)
        summary.shards_ok += summary.problems.total == before
        read.append(scan)
    summary.records = sum(scan.records for scan in read)
    summary.boxes = sum(scan.boxes for scan in read)
    summary.classes = len(set().union(*(scan.class_counts for scan in read)))
    summary.mixing = mixing(read)
    unreadable = summary.shards - sum(scan.complete for scan in read)
    if unreadable:
        summary.note = f" (class counts not checked: {_count(unreadable, 'shard')} missing or unreadable)"
    elif "class_counts" in entry:
        _compare_split(summary.split, entry, read, summary.problems)


def _check_synsets(scans: Iterable[ShardScan], num_leaf_classes: int, problems: Problems) -> dict[int, str]:
    """One synset per label across shards, and labels in sorted-WNID order as Slim assigns them
    (labels out of range are reported already); returns {label: synset} as the records have it."""
    synsets: dict[int, str] = {}
    for scan in scans:
        for label, synset in scan.synsets.items():
            if not 1 <= label <= num_leaf_classes:
                continue
            known = synsets.setdefault(label, synset)
            if known != synset:
                problems.add(scan.name, f"label {label} has synset {synset}, other shards have {known}")
    ordered = sorted(synsets.items())
    for (label, synset), (next_label, next_synset) in pairwise(ordered):
        if synset >= next_synset:
            problems.add(
                "labels",
                f"not in sorted-WNID order: label {label} is {synset}, label {next_label} is {next_synset}",
            )
            break
    return synsets


def _check_class_names(
    data: bytes, info: dict[str, Any], synsets: dict[int, str], problems: Problems
) -> None:
    """``background`` and the WNIDs in label order, as the records name them."""
    names, where = data.decode(errors="replace").splitlines(), filenames.TFDS_CLASS_NAMES
    if len(names) != info["num_classes"] or names[:1] != ["background"] or len(set(names)) != len(names):
        problems.add(where, f"is not 'background' then {info['num_leaf_classes']} distinct WNIDs")
    for label, synset in sorted(synsets.items()):
        if label < len(names) and names[label] != synset:
            problems.add(where, f"line {label + 1} is {names[label]!r}, but label {label} is {synset}")


def check_tfds(out: OutputDir, info: dict[str, Any], synsets: dict[int, str], problems: Problems) -> str:
    """TFDS's files say what our metadata and the records say (else TFDS would read other splits or
    name classes wrongly); returns the summary line. Folders from versions before them have none."""
    if not out.exists(out.path(filenames.INFO)):
        return f"TFDS metadata: not checked ({filenames.LEGACY_INFO} is ours: written by an earlier version)"
    expected = tfds_metadata.files(info, [])
    for name in expected:
        try:
            data = out.read_bytes(out.path(name))
        except OSError:
            problems.add(name, "missing or unreadable; TFDS needs it: rerun the conversion to rewrite it")
            continue
        if name == filenames.TFDS_CLASS_NAMES:
            _check_class_names(data, info, synsets, problems)
        elif data != expected[name]:
            problems.add(name, f"differs from what {filenames.INFO} says (edited, or another conversion)")
    return f"TFDS metadata: {', '.join(expected)}"


# ---------------------------------------------------------------------------------------------
# Input archives


def _md5(paths: dict[str, tuple[str, int]]) -> dict[str, str]:
    digests = {}
    with _bar(sum(size for _, size in paths.values()), "md5 archives") as bar:
        for name, (path, _) in paths.items():
            digest = hashlib.md5(usedforsecurity=False)
            with _open(path) as stream:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    bar.update(len(chunk))
            digests[name] = digest.hexdigest()
    return digests


def find_archives(input_dir: str, layout: str = "official") -> dict[str, tuple[str, int]]:
    """{name: (path, size)} of the downloads in ``input_dir`` that carry an official name.

    Only the official layout must have some: the other layouts may hold none of the archives."""
    _require_folder(input_dir)
    try:
        found = FileSystems.match([FileSystems.join(input_dir, "*")])[0].metadata_list
    except Exception as exc:  # BeamIOError and friends, by scheme
        raise VerifyError(f"{input_dir}: cannot list the archive folder ({exc})") from None
    files = {meta.path.rsplit("/", 1)[-1]: (meta.path, meta.size_in_bytes) for meta in found}
    files = {name: entry for name, entry in files.items() if name in OFFICIAL}
    if not files and layout == "official":
        raise VerifyError(f"{input_dir}: holds none of {', '.join(OFFICIAL)} under their official names")
    return files


def _verdict(name: str, size: int, md5: str | None) -> tuple[str, bool]:
    """What to say about one download, and whether it differs from the official file."""
    official_size, official_md5 = OFFICIAL[name]
    if official_md5 is None:
        return f"no official checksum to compare ({size:,} bytes)", False
    if md5 is None:
        return f"DIFFERS from the official file: {size:,} bytes, official {official_size:,}", True
    if md5 != official_md5:
        return f"DIFFERS from the official file: md5 {md5}, official {official_md5}", True
    return "matches the official " + ("size and md5" if official_size else "md5"), False


def _described(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value['files']:,} files, {value['bytes']:,} bytes"
    return "absent" if value is None else f"{value:,} bytes"


def check_layout_inputs(
    input_dir: str, inputs: dict[str, Any], splits: tuple[str, ...], problems: Problems
) -> list[str]:
    """Layouts other than the official one: their folders and files have no official checksum, so
    say so, and compare them with what was converted (the listing digest of the fingerprint)."""
    layout = inputs["layout"]
    try:
        now = open_layout(input_dir, layout).inputs(splits)
    except ArchiveError as exc:
        problems.add(input_dir, f"cannot be read as the {layout} layout it was converted from ({exc})")
        return []
    lines = []
    for name in sorted(set(now) | {k for k, v in inputs.items() if isinstance(v, dict)}):
        if name in OFFICIAL:
            continue
        then, found = inputs.get(name), now.get(name)
        lines.append(
            f"{name}: no official checksum (the official sizes and md5 sums are those of the five archives; "
            f"this is the {layout} layout), {_described(found)}"
        )
        if then != found:
            problems.add(
                name, f"{_described(found)} now, but this output was converted from {_described(then)}"
            )
    return lines


def check_archives(
    input_dir: str, files: dict[str, tuple[str, int]], inputs: dict[str, Any], problems: Problems,
    splits: tuple[str, ...] = SPLITS,
) -> list[str]:  # fmt: skip
    """Compare the downloads with the official files; a size that differs needs no hashing to tell."""
    hashable = {
        name: entry for name, entry in files.items()
        if OFFICIAL[name][1] and OFFICIAL[name][0] in (None, entry[1])
    }  # fmt: skip
    digests = _md5(hashable)
    lines = []
    layout = inputs.get("layout", "official")
    for name in OFFICIAL:
        if name not in files:
            if layout == "official":
                lines.append(f"{name}: not in {input_dir}")
            continue
        size = files[name][1]
        if name in inputs and inputs[name] != size:
            problems.add(name, f"{size} bytes, but this output was converted from a {inputs[name]}-byte file")
        verdict, differs = _verdict(name, size, digests.get(name))
        lines.append(f"{name}: {verdict}")
        if differs:
            problems.add(
                name, "differs from the official ILSVRC2012 download (a generated miniature always does)"
            )
    if layout != "official":
        lines += check_layout_inputs(input_dir, inputs, splits, problems)
    return lines


# ---------------------------------------------------------------------------------------------
# Putting it together


@dataclass
class Report:
    """What ``verify`` prints: a summary and every problem found (the first ``limit`` in full)."""

    lines: list[str]
    problems: Problems

    @property
    def ok(self) -> bool:
        return self.problems.total == 0

    def text(self) -> str:
        lines = list(self.lines)
        if self.ok:
            lines.append("OK: every check passed")
        else:
            lines.append(f"FAILED: {_count(self.problems.total, 'problem')}")
            lines += [f"  {item}" for item in self.problems.items]
            rest = self.problems.total - len(self.problems.items)
            if rest:
                lines.append(f"  ... and {rest} more (raise --max-problems to list them)")
        return "\n".join(lines)


def verify(
    output: str,
    decode: bool = False,
    workers: int = 1,
    archives: str | None = None,
    max_problems: int = 50,
    beam_args: list[str] | None = None,
) -> Report:
    """Check the output folder; raises VerifyError only when there is nothing to check."""
    out = OutputDir(output)
    info = load_info(out)
    general = Problems(max_problems)
    inputs = info.get("inputs") or {}
    layout = inputs.get("layout", "official")
    archive_files = find_archives(archives, layout) if archives else {}  # before hours of shard checks
    texts = check_labels(out, info, general)
    files = _shard_files(out, info["splits"])
    check_unlisted(info, files, general)
    splits, present = {}, []
    for split, entry in info["splits"].items():
        splits[split] = SplitSummary(split, len(entry["shards"]), Problems(max_problems))
        present += check_listing(split, entry, files, splits[split].problems)
    rules = Rules(info["num_leaf_classes"], texts, decode, max_problems)
    sizes = {name: files[name][1] for name in files}
    bare = bool(info.get("bare"))
    scans = _run_scans(out, present, sizes, rules, workers, beam_args or [], bare)
    synsets = _check_synsets(scans.values(), info["num_leaf_classes"], general)
    tfds_line = "TFDS metadata: not checked (no metadata of ours)"
    if not bare:
        tfds_line = check_tfds(out, info, synsets, general)
    # After the shard scans: the worker processes fork before any progress bar thread exists.
    converted = tuple((info.get("options") or {}).get("splits", SPLITS))
    archive_lines = check_archives(archives, archive_files, inputs, general, converted) if archives else []
    lines = [f"verify {out.root}: {info.get('name')} ({info.get('format')}), {info['num_classes']} classes"]
    for split, summary in splits.items():
        summarize_split(summary, info["splits"][split], scans)
        lines.append(summary.line())
        general.extend(summary.problems)
    lines += [s.mixing.warning(s.split) for s in splits.values() if s.mixing and s.mixing.sorted_inside]
    if texts is not None:
        lines.append(f"labels.txt: {len(texts) + 1} lines")
    lines.append(tfds_line)
    lines += [f"   archive {line}" for line in archive_lines]
    return Report(lines, general)


# ---------------------------------------------------------------------------------------------
# Command line


def folder_parser(command: str, doc: str, exit_status: str) -> argparse.ArgumentParser:
    """The parser of a command that reads a converted folder (``verify``, ``show``): OUTPUT first,
    the module docstring's body as description, Beam's filesystem options allowed."""
    p = argparse.ArgumentParser(
        prog=f"python -m imagenet_convert {command}",
        description=doc.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        epilog=f"Exit status: {exit_status}. Apache Beam's filesystem options, as --name=value "
        "(e.g. --s3_endpoint_url=URL), apply to gs:// and s3:// folders.",
    )
    p.add_argument(
        "output", metavar="OUTPUT", help="the --output folder of a conversion (or gs://, s3:// prefix)"
    )
    return p


def parser() -> argparse.ArgumentParser:
    p = folder_parser("verify", __doc__, "0 all is well, 1 problems found (listed), 2 nothing to verify")
    p.add_argument("--decode", action="store_true", help="also decode every image with Pillow (slow)")
    p.add_argument(
        "--check-archives", metavar="INPUT_DIR",
        help="compare the downloads in INPUT_DIR with the official ILSVRC2012 sizes and md5 sums (for "
        "other layouts: which files have none, and whether the input is still what was converted)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes reading shards (all cores)"
    )
    p.add_argument(
        "--max-problems", type=int, default=50, help="problems listed in full (50); the rest are counted"
    )
    return p


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and Apache Beam's filesystem options (anything else is an error)."""
    p = parser()
    args, beam_args = parse_with_beam_options(p, argv)
    if args.workers < 1 or args.max_problems < 1:
        p.error("--workers and --max-problems must be at least 1")
    return args, beam_args


def main(argv: list[str]) -> int:
    args, beam_args = parse_args(argv)
    try:
        report = verify(
            args.output, args.decode, args.workers, args.check_archives, args.max_problems, beam_args
        )
    except VerifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    return 0 if report.ok else 1
