"""The ILSVRC2012 devkit: classes, Slim labels and validation ground truth.

Slim's label of a class is 1 + its index in sorted-WNID order (0 is background); the devkit's
``ILSVRC2012_ID`` order is different, and the validation ground truth is written in IDs.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import scipy.io

from imagenet_convert.errors import shown
from imagenet_convert.inputs.archives import (
    MAX_FILE_BYTES,
    ArchiveError,
    iter_small_members,
    open_input,
    too_large,
)

META_FIELDS = (
    "ILSVRC2012_ID", "WNID", "words", "gloss",
    "num_children", "children", "wordnet_height", "num_train_images",
)  # fmt: skip


class DevkitError(ArchiveError):
    """The devkit (or a validation-labels file) is missing a piece or contradicts itself."""


@dataclass(frozen=True)
class Synset:
    """One leaf class of the challenge."""

    ilsvrc_id: int
    wnid: str
    words: str


@dataclass(frozen=True)
class Devkit:
    """The challenge classes sorted by WNID, and the validation images' WNIDs in name order."""

    classes: tuple[Synset, ...]
    validation_wnids: tuple[str, ...]

    def labels(self) -> dict[str, int]:
        """WNID -> Slim label (1-based; 0 is background)."""
        return {synset.wnid: index for index, synset in enumerate(self.classes, start=1)}


def labels_txt(classes: Iterable[Synset]) -> str:
    """Slim's ``labels.txt`` of ``classes`` in label order: ``0:background`` then ``label:words``."""
    lines = ["0:background"] + [f"{i}:{s.words}" for i, s in enumerate(classes, start=1)]
    return "\n".join(lines) + "\n"


def parse_meta_mat(data: bytes, where: str) -> tuple[Synset, ...]:
    """The leaf synsets (``num_children == 0``) of ``meta.mat``, sorted by WNID."""
    try:
        synsets = scipy.io.loadmat(io.BytesIO(data), squeeze_me=True)["synsets"]
    except Exception as exc:  # scipy raises ValueError, TypeError, KeyError... on damaged files
        raise DevkitError(f"{where}: unreadable MATLAB file ({exc}); re-download the devkit") from None
    names = synsets.dtype.names or ()
    if tuple(names[: len(META_FIELDS)]) != META_FIELDS:
        raise DevkitError(f"{where}: 'synsets' has fields {names}, expected {META_FIELDS}")
    leaves = [
        Synset(int(row["ILSVRC2012_ID"]), str(row["WNID"]), str(row["words"]))
        for row in synsets.ravel()
        if int(row["num_children"]) == 0
    ]
    if not leaves:
        raise DevkitError(f"{where}: no leaf synsets (num_children == 0)")
    return tuple(sorted(leaves, key=lambda synset: synset.wnid))


def parse_ground_truth(text: str, classes: tuple[Synset, ...], where: str) -> tuple[str, ...]:
    """Ground-truth lines (one ILSVRC2012_ID per validation image) -> WNIDs."""
    by_id = {synset.ilsvrc_id: synset.wnid for synset in classes}
    wnids = []
    for number, line in enumerate(text.split(), start=1):
        try:
            wnids.append(by_id[int(line)])
        except (ValueError, KeyError):
            raise DevkitError(
                f"{where}: line {number} is {line!r}, not the ILSVRC2012_ID of one of the devkit's "
                f"{len(classes)} leaf classes"
            ) from None
    return tuple(wnids)


def load_devkit(path: str, archive: str) -> Devkit:
    """Read classes and validation ground truth straight from the devkit .tar.gz."""
    return parse_devkit(dict(iter_small_members(path, archive)), archive)


def parse_devkit(members: dict[str, bytes], archive: str) -> Devkit:
    """Classes and ground truth from the devkit's files by name (from its archive or its extracted folder)."""

    def member(suffix: str) -> tuple[str, bytes]:
        for name, data in members.items():
            if name.endswith(suffix):
                return f"{archive}/{name}", data
        raise DevkitError(f"{archive}: no member ending in {suffix!r}; is this ILSVRC2012_devkit_t12.tar.gz?")

    where, meta = member("data/meta.mat")
    classes = parse_meta_mat(meta, where)
    where, truth = member("data/ILSVRC2012_validation_ground_truth.txt")
    return Devkit(classes, parse_ground_truth(truth.decode("ascii", "replace"), classes, where))


def read_validation_labels(path: str) -> tuple[str, ...]:
    """Slim's precomputed validation file: one WNID per line, in image-name order."""
    with open_input(path) as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ArchiveError(f"{shown(path)}: {too_large()}")
    return tuple(data.decode("ascii", "replace").split())


def check_validation_labels(devkit: tuple[str, ...], given: tuple[str, ...], given_path: str) -> None:
    """Both sources of validation labels must say the same thing."""
    if len(devkit) != len(given):
        raise DevkitError(
            f"{given_path}: {len(given)} labels but the devkit ground truth has {len(devkit)}; "
            "use the file that matches your validation tar"
        )
    for number, (ours, theirs) in enumerate(zip(devkit, given, strict=True), start=1):
        if ours != theirs:
            raise DevkitError(
                f"{given_path}: line {number} says {theirs} but the devkit ground truth says {ours} "
                f"(ILSVRC2012_val_{number:08d}.JPEG); the two label sources disagree"
            )
