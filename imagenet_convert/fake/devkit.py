"""The devkit: ``meta.mat`` with its WordNet synsets, validation ground truth, blacklist, readme."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from imagenet_convert.fake.tars import add_dir, add_file, write_tar_gz
from imagenet_convert.inputs.devkit import META_FIELDS

ROOT = "ILSVRC2012_devkit_t12"
FANOUT = 4
"""Children per synthetic internal WordNet node."""

_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Tue May  1 00:00:00 2012".ljust(116)
"""scipy writes the wall-clock time here; a fixed text keeps meta.mat byte-identical across runs."""

_README = """\
Synthetic miniature of the ILSVRC2012 development kit, written by `imagenet-convert fake`.

data/meta.mat            `synsets`: the leaf classes (ILSVRC2012_ID 1..k, num_children 0) and
                         synthetic internal WordNet nodes (ILSVRC2012_ID > k).
data/ILSVRC2012_validation_ground_truth.txt
                         line i: the ILSVRC2012_ID of ILSVRC2012_val_%08d.JPEG % i.
data/ILSVRC2012_validation_blacklist.txt
                         validation indices excluded from localization scoring only.
"""


@dataclass(frozen=True)
class Synset:
    """One row of ``synsets``."""

    ilsvrc_id: int
    wnid: str
    words: str
    gloss: str
    children: tuple[int, ...]
    wordnet_height: int
    num_train_images: int


def leaf(ilsvrc_id: int, wnid: str, words: str, num_train_images: int) -> Synset:
    """A challenge class: a WordNet leaf."""
    return Synset(ilsvrc_id, wnid, words, f"synthetic gloss of {words}", (), 0, num_train_images)


def with_ancestors(leaves: Sequence[Synset]) -> list[Synset]:
    """``leaves`` (sorted by ID) plus internal nodes grouping them ``FANOUT`` at a time up to one root.

    Internal IDs continue after the leaves, as the real IDs > 1000 do, and their WNIDs lie below
    every real challenge WNID so they can never collide with a class.
    """
    rows = list(leaves)
    level = list(leaves)
    while True:
        parents = []
        for start in range(0, len(level), FANOUT):
            group = level[start : start + FANOUT]
            number = len(rows) - len(leaves) + 1
            parents.append(
                Synset(
                    ilsvrc_id=len(rows) + 1,
                    wnid=f"n{100000 + number:08d}",
                    words=f"internal node {number}",
                    gloss=f"synthetic WordNet ancestor of {len(group)} synsets",
                    children=tuple(child.ilsvrc_id for child in group),
                    wordnet_height=1 + max(child.wordnet_height for child in group),
                    num_train_images=sum(child.num_train_images for child in group),
                )
            )
            rows.append(parents[-1])
        level = parents
        if len(level) == 1:
            return rows


def meta_mat(synsets: Sequence[Synset]) -> bytes:
    """MATLAB v5 bytes holding the Nx1 ``synsets`` struct array, a column as in the real devkit.

    Public scripts iterate the unsqueezed array by rows (``row[0][0][0][0]`` is the ID): a row-shaped
    array would read there as a single class.
    """
    table = np.empty((len(synsets), 1), dtype=[(field, object) for field in META_FIELDS])
    for row, synset in enumerate(synsets):
        table[row, 0] = (
            np.uint16(synset.ilsvrc_id),
            synset.wnid,
            synset.words,
            synset.gloss,
            np.uint16(len(synset.children)),
            np.array(synset.children, dtype=np.uint16).reshape(1, -1),
            np.uint16(synset.wordnet_height),
            np.int32(synset.num_train_images),
        )
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"synsets": table}, format="5", oned_as="row")
    return _MAT_HEADER + buffer.getvalue()[len(_MAT_HEADER) :]


def _lines(values: Sequence[int]) -> bytes:
    return "".join(f"{value}\n" for value in values).encode()


def write_devkit(
    path: Path, synsets: Sequence[Synset], ground_truth: Sequence[int], blacklist: Sequence[int]
) -> None:
    """``ILSVRC2012_devkit_t12.tar.gz`` with the real member names."""
    with write_tar_gz(path) as tar:
        for directory in (ROOT, f"{ROOT}/data"):
            add_dir(tar, directory)
        add_file(tar, f"{ROOT}/readme.txt", _README.encode())
        add_file(tar, f"{ROOT}/data/meta.mat", meta_mat(synsets))
        add_file(tar, f"{ROOT}/data/ILSVRC2012_validation_ground_truth.txt", _lines(ground_truth))
        add_file(tar, f"{ROOT}/data/ILSVRC2012_validation_blacklist.txt", _lines(blacklist))
