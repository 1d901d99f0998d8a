"""Devkit parsing on ``meta.mat`` files written with scipy and devkits packed with tarfile."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from imagenet_convert.inputs.classes import imagenet1k_classes
from imagenet_convert.inputs.devkit import (
    META_FIELDS,
    Devkit,
    DevkitError,
    Synset,
    check_validation_labels,
    labels_txt,
    load_devkit,
    parse_ground_truth,
    parse_meta_mat,
    read_validation_labels,
)

DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"
META = "ILSVRC2012_devkit_t12/data/meta.mat"
TRUTH = "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"


def meta_mat(
    leaves: list[Synset], internal: int = 3, fields: tuple[str, ...] = META_FIELDS, column: bool = True
) -> bytes:
    """A MATLAB v5 ``meta.mat``: ``synsets`` holds the leaves, then ``internal`` WordNet nodes.

    The real file's ``synsets`` is a column (N x 1); ``column=False`` writes the row some copies have.
    """
    rows = [
        (s.ilsvrc_id, s.wnid, s.words, f"gloss of {s.wnid}", 0, np.zeros((1, 0)), 0, 1300) for s in leaves
    ]
    for n in range(internal):
        children = np.array([[1.0 + n, 2.0 + n]])
        rows.append((1001 + n, f"n0000000{n}", f"internal node {n}", "gloss", 2, children, 1 + n, 0))
    synsets = np.zeros((len(rows), 1), dtype=[(name, object) for name in fields])
    for index, row in enumerate(rows):
        synsets[index, 0] = row
    out = io.BytesIO()
    synsets = synsets if column else synsets.T
    scipy.io.savemat(out, {"synsets": synsets})
    return out.getvalue()


# IDs deliberately not in sorted-WNID order.
SMALL = [
    Synset(3, "n02000000", "crane"),
    Synset(1, "n03000000", "bell"),
    Synset(2, "n01000000", "ant, emmet"),
]
SORTED_SMALL = tuple(sorted(SMALL, key=lambda synset: synset.wnid))


@pytest.mark.parametrize("column", [True, False], ids=["column", "row"])
def test_parse_meta_mat_keeps_leaves_sorted_by_wnid(column: bool) -> None:
    assert parse_meta_mat(meta_mat(SMALL, column=column), META) == SORTED_SMALL


def test_labels_and_labels_txt() -> None:
    devkit = Devkit(SORTED_SMALL, ())
    assert devkit.labels() == {"n01000000": 1, "n02000000": 2, "n03000000": 3}
    assert labels_txt(devkit.classes) == "0:background\n1:ant, emmet\n2:crane\n3:bell\n"


# docs/ilsvrc2012.md, 2. The devkit: validation images 1-5 have IDs 490, 361, 171, 822, 297, i.e. these WNIDs
# (Slim's imagenet_2012_validation_synset_labels.txt); ID 490 = n01751748 = sorted index 65.
FIRST_IDS = (490, 361, 171, 822, 297)
FIRST_WNIDS = ("n01751748", "n09193705", "n02105855", "n04263257", "n03125729")


@pytest.fixture(scope="module")
def real_classes() -> list[Synset]:
    """The 1000 real classes with IDs from a seeded permutation that agrees with docs/ilsvrc2012.md."""
    classes = imagenet1k_classes()
    wnids = [wnid for wnid, _ in classes]
    rest = [i for i in np.random.default_rng(7).permutation(1000) + 1 if i not in FIRST_IDS]
    ids = {wnid: ident for wnid, ident in zip(FIRST_WNIDS, FIRST_IDS, strict=True)}
    ids |= dict(zip((w for w in wnids if w not in ids), map(int, rest), strict=True))
    return [Synset(ids[wnid], wnid, words) for wnid, words in reversed(classes)]  # meta.mat order differs


def test_real_classes_facts_example(real_classes: list[Synset]) -> None:
    """ILSVRC2012_val_00000001.JPEG -> ID 490 -> n01751748 -> sorted index 65 -> Slim label 66."""
    classes = parse_meta_mat(meta_mat(real_classes), META)
    assert [s.wnid for s in classes] == [wnid for wnid, _ in imagenet1k_classes()]
    assert (classes[65].ilsvrc_id, classes[65].wnid, classes[65].words) == (490, "n01751748", "sea snake")
    devkit = Devkit(classes, parse_ground_truth("\n".join(map(str, FIRST_IDS)) + "\n", classes, TRUTH))
    assert devkit.validation_wnids == FIRST_WNIDS
    assert devkit.labels()["n01751748"] == 66
    lines = labels_txt(devkit.classes).splitlines()
    assert (len(lines), lines[0], lines[1], lines[66]) == (
        1001,
        "0:background",
        "1:tench, Tinca tinca",
        "66:sea snake",
    )
    check_validation_labels(devkit.validation_wnids, FIRST_WNIDS, "synset_labels.txt")


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n2\nabc\n", "line 3 is 'abc'"),
        ("1\n1001\n", "line 2 is '1001'"),  # an internal node, not a leaf
        ("0\n", "line 1 is '0'"),
        ("2.5\n", "line 1 is '2.5'"),
    ],
)
def test_parse_ground_truth_rejects(text: str, message: str) -> None:
    with pytest.raises(
        DevkitError, match=f"^{TRUTH}: {message}, not the ILSVRC2012_ID of one of the devkit's 3"
    ):
        parse_ground_truth(text, SORTED_SMALL, TRUTH)


def test_parse_ground_truth_maps_ids_to_wnids() -> None:
    assert parse_ground_truth("2\n3\n1\n2\n", SORTED_SMALL, TRUTH) == (
        "n01000000",
        "n02000000",
        "n03000000",
        "n01000000",
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            ("a", "b", "x", "y"),
            r"line 3 says x but the devkit ground truth says c \(ILSVRC2012_val_00000003.JPEG\)",
        ),
        (("a", "b", "c"), "3 labels but the devkit ground truth has 4"),
        (("a", "b", "c", "d", "e"), "5 labels but the devkit ground truth has 4"),
    ],
)
def test_check_validation_labels_reports_disagreement(given: tuple[str, ...], message: str) -> None:
    with pytest.raises(DevkitError, match=f"^labels.txt: {message}"):
        check_validation_labels(("a", "b", "c", "d"), given, "labels.txt")


def other_mat(**variables) -> bytes:
    out = io.BytesIO()
    scipy.io.savemat(out, variables)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"garbage, not a MATLAB file " * 40, "unreadable MATLAB file"),
        (np.random.default_rng(0).bytes(4096), "unreadable MATLAB file"),
        (b"", "unreadable MATLAB file"),
        (meta_mat(SMALL)[:-100], "unreadable MATLAB file"),
        (other_mat(something=np.zeros(3)), "unreadable MATLAB file"),
        (meta_mat(SMALL, fields=META_FIELDS[1::-1] + META_FIELDS[2:]), "'synsets' has fields"),
        (meta_mat([], internal=2), "no leaf synsets"),
    ],
    ids=["text", "random", "empty", "truncated", "no-synsets", "fields-order", "no-leaves"],
)
def test_parse_meta_mat_rejects(data: bytes, message: str) -> None:
    with pytest.raises(DevkitError, match=f"^{META}: {message}"):
        parse_meta_mat(data, META)


# --- the .tar.gz --------------------------------------------------------------------------------


def devkit_tar_gz(tmp_path: Path, members: dict[str, bytes]) -> str:
    path = tmp_path / DEVKIT
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_load_devkit(tmp_path: Path) -> None:
    path = devkit_tar_gz(tmp_path, {META: meta_mat(SMALL), TRUTH: b"2\n3\n1\n", "readme.txt": b"hi"})
    assert load_devkit(path, DEVKIT) == Devkit(SORTED_SMALL, ("n01000000", "n02000000", "n03000000"))


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({TRUTH: b"1\n"}, "no member ending in 'data/meta.mat'"),
        ({META: b"\x00garbage" * 50, TRUTH: b"1\n"}, f"{META}: unreadable MATLAB file"),
        ({META: meta_mat(SMALL)}, "no member ending in 'data/ILSVRC2012_validation_ground_truth.txt'"),
        ({META: meta_mat(SMALL), TRUTH: b"1\n7\n"}, f"{TRUTH}: line 2 is '7'"),
    ],
    ids=["no-meta", "garbage-meta", "no-ground-truth", "bad-ground-truth"],
)
def test_load_devkit_rejects(tmp_path: Path, members: dict[str, bytes], message: str) -> None:
    with pytest.raises(DevkitError, match=f"^{re.escape(DEVKIT)}(: |/).*{re.escape(message)}"):
        load_devkit(devkit_tar_gz(tmp_path, members), DEVKIT)


def test_read_validation_labels(tmp_path: Path) -> None:
    path = tmp_path / "imagenet_2012_validation_synset_labels.txt"
    path.write_text("\n".join(FIRST_WNIDS) + "\n")
    assert read_validation_labels(str(path)) == FIRST_WNIDS
