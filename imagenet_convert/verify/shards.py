"""One shard read once: framing CRCs, sha256, size, every record's format, and its index file.

Shards are read in this process (fine-grained progress) or spread over worker processes; what a
shard's scan found is compared with the metadata afterwards (``splits``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from apache_beam.options.pipeline_options import PipelineOptions

from imagenet_convert.format import filenames
from imagenet_convert.format.index import FRAMING, Span, first_difference, parse_index
from imagenet_convert.format.records import TFRecordError, read_records
from imagenet_convert.storage import filesystems
from imagenet_convert.storage.output import OutputDir
from imagenet_convert.verify.reading import CHUNK, open_file, progress_bar
from imagenet_convert.verify.record_checks import Rules, check_record
from imagenet_convert.verify.report import Problems


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
        with open_file(path) as stream:
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
    path: str,
    name: str,
    rules: Rules,
    on_bytes: Callable[[int], Any] | None = None,
    index_path: str | None = None,
) -> ShardScan:
    """Read one shard once: framing CRCs, sha256, size, every record's format (and image); then
    compare its index file, when given, with where the records were found."""
    scan, spans = ShardScan(name, Problems(rules.max_problems)), []
    try:
        with open_file(path) as stream:
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


def run_scans(
    out: OutputDir,
    shards: list[tuple[str, str]],
    sizes: dict[str, int],
    rules: Rules,
    workers: int,
    beam_args: list[str],
    bare: bool = False,
) -> dict[str, ShardScan]:
    """Scan shards (and their index files) in this process (fine-grained progress) or spread over
    worker processes; bare Slim shards have index files only if someone wrote them."""
    total, desc = sum(sizes[name] for name, _ in shards), "decode shards" if rules.decode else "check shards"
    indexes = {name: out.path(filenames.index_file(name)) for name, _ in shards}
    if bare:
        indexes = {name: path if out.exists(path) else None for name, path in indexes.items()}
    if workers <= 1 or len(shards) <= 1:
        with progress_bar(total, desc) as bar:
            return {name: check_shard(path, name, rules, bar.update, indexes[name]) for name, path in shards}
    scans = {}
    with ProcessPoolExecutor(
        min(workers, len(shards)), initializer=_init_worker, initargs=(beam_args,)
    ) as pool:
        # Submit before the bar exists: workers fork from a process without tqdm's monitor thread.
        futures = {
            pool.submit(check_shard, path, name, rules, None, indexes[name]): name for name, path in shards
        }
        with progress_bar(total, desc) as bar:
            for future in as_completed(futures):
                scans[futures[future]] = future.result()
                bar.update(sizes[futures[future]])
    return scans


def _init_worker(beam_args: list[str]) -> None:
    filesystems.configure(PipelineOptions(beam_args))
