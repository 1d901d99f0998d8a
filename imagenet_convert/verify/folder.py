"""The folder against its metadata: labels.txt, which shards are there and under which names, one
synset per label across shards, and TFDS's files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from imagenet_convert.format import filenames, tfds
from imagenet_convert.format.filenames import SPLITS
from imagenet_convert.storage.output import OutputDir
from imagenet_convert.verify.report import Problems
from imagenet_convert.verify.shards import ShardScan


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


def shard_files(out: OutputDir, splits: Iterable[str]) -> dict[str, tuple[str, int]]:
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


def check_synsets(scans: Iterable[ShardScan], num_leaf_classes: int, problems: Problems) -> dict[int, str]:
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
    expected = tfds.files(info, [])
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
