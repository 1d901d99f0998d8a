"""The generated miniature read back independently (tarfile, scipy, lxml, PIL): layout, quirks, determinism.

Nothing here reuses the generator's code to check it; the facts come from docs/ilsvrc2012.md.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
from lxml import etree
from PIL import Image

from imagenet_convert.fake import FakeOptions, generate
from imagenet_convert.fake.cli import main
from imagenet_convert.fake.plan import imagenet_counts
from imagenet_convert.inputs.classes import imagenet1k_classes

ARCHIVES = {
    "ILSVRC2012_img_train.tar",
    "ILSVRC2012_img_val.tar",
    "ILSVRC2012_devkit_t12.tar.gz",
    "ILSVRC2012_bbox_train_v2.tar.gz",
    "ILSVRC2012_bbox_val_v3.tgz",
}
SIDE_FILES = {"expected.json", "imagenet_2012_validation_synset_labels.txt"}
FIELDS = (
    "ILSVRC2012_ID",
    "WNID",
    "words",
    "gloss",
    "num_children",
    "children",
    "wordnet_height",
    "num_train_images",
)
DEVKIT_DATA = "ILSVRC2012_devkit_t12/data/"
PNG_NAME = "n02105855_2933.JPEG"
REAL_CMYK = {
    "n01739381_1309.JPEG",
    "n02077923_14822.JPEG",
    "n02447366_23489.JPEG",
    "n02492035_15739.JPEG",
    "n02747177_10752.JPEG",
    "n03018349_4028.JPEG",
    "n03062245_4620.JPEG",
    "n03347037_9675.JPEG",
    "n03467068_12171.JPEG",
    "n03529860_11437.JPEG",
    "n03544143_17228.JPEG",
    "n03633091_5218.JPEG",
    "n03710637_5125.JPEG",
    "n03961711_5286.JPEG",
    "n04033995_2932.JPEG",
    "n04258138_17003.JPEG",
    "n04264628_27969.JPEG",
    "n04336792_7448.JPEG",
    "n04371774_5854.JPEG",
    "n04596742_4225.JPEG",
    "n07583066_647.JPEG",
    "n13037406_4650.JPEG",
}
XML_QUIRKS = (
    "box_past_border",
    "box_min_gt_max",
    "wrong_size",
    "multiple_objects",
    "foreign_wnid",
    "human_name",
    "percent_s_filename",
)


@dataclass
class Archives:
    """Everything in the miniature, as a reader of the real archives would see it."""

    class_tars: list[str] = field(default_factory=list)
    train_order: dict[str, list[str]] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    val_order: list[str] = field(default_factory=list)
    devkit: dict[str, bytes] = field(default_factory=dict)
    train_xml: dict[str, etree._Element] = field(default_factory=dict)
    val_xml: dict[str, etree._Element] = field(default_factory=dict)


def _files(tar: tarfile.TarFile) -> list[tuple[str, bytes]]:
    return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]


def _read(folder: Path) -> Archives:
    found = Archives()
    with tarfile.open(folder / "ILSVRC2012_img_train.tar", mode="r:") as outer:
        for class_tar, data in _files(outer):
            found.class_tars.append(class_tar)
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as inner:
                members = _files(inner)
            found.train_order[class_tar] = [name for name, _ in members]
            found.images.update(members)
    with tarfile.open(folder / "ILSVRC2012_img_val.tar", mode="r:") as val:
        members = _files(val)
    found.val_order = [name for name, _ in members]
    found.images.update(members)
    with tarfile.open(folder / "ILSVRC2012_devkit_t12.tar.gz", mode="r:gz") as devkit:
        found.devkit = dict(_files(devkit))
    for archive, target in (
        ("ILSVRC2012_bbox_train_v2.tar.gz", found.train_xml),
        ("ILSVRC2012_bbox_val_v3.tgz", found.val_xml),
    ):
        with tarfile.open(folder / archive, mode="r:gz") as tar:
            target.update((name, etree.fromstring(data)) for name, data in _files(tar))
    return found


@pytest.fixture(scope="module")
def archives(mini_imagenet: Path) -> Archives:
    return _read(mini_imagenet)


@dataclass(frozen=True)
class Synset:
    ilsvrc_id: int
    wnid: str
    num_children: int
    children: tuple[int, ...]
    wordnet_height: int
    num_train_images: int


@pytest.fixture(scope="module")
def meta(archives: Archives) -> tuple[np.ndarray, list[Synset]]:
    mat = scipy.io.loadmat(io.BytesIO(archives.devkit[DEVKIT_DATA + "meta.mat"]))
    table = mat["synsets"]
    rows = [
        Synset(
            int(row["ILSVRC2012_ID"].item()),
            str(row["WNID"].item()),
            int(row["num_children"].item()),
            tuple(int(c) for c in row["children"].ravel()),
            int(row["wordnet_height"].item()),
            int(row["num_train_images"].item()),
        )
        for row in table[:, 0]
    ]
    return table, rows


def _lines(data: bytes) -> list[str]:
    return data.decode().splitlines()


def _chosen(expected: dict[str, Any]) -> list[str]:
    return [c["wnid"] for c in expected["classes"]]


def _all_entries(expected: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {**expected["images"]["train"], **expected["images"]["validation"]}


def _with_quirk(expected: dict[str, Any], quirk: str, split: str | None = None) -> set[str]:
    splits = [split] if split else ["train", "validation"]
    return {name for s in splits for name, entry in expected["images"][s].items() if quirk in entry["quirks"]}


# --- layout ------------------------------------------------------------------------------------------


def test_folder_holds_the_five_archives_and_side_files(mini_imagenet: Path) -> None:
    assert {p.name for p in mini_imagenet.iterdir()} == ARCHIVES | SIDE_FILES


def test_train_tar_is_a_tar_of_class_tars(archives: Archives, mini_expected: dict[str, Any]) -> None:
    chosen = _chosen(mini_expected)
    assert sorted(archives.class_tars) == [f"{wnid}.tar" for wnid in chosen]
    for class_tar, names in archives.train_order.items():
        wnid = class_tar.removesuffix(".tar")
        assert all(re.fullmatch(rf"{wnid}_[1-9][0-9]*\.JPEG", name) for name in names), names
        numbers = sorted(int(name.split("_")[1].split(".")[0]) for name in names)
        assert numbers != list(range(numbers[0], numbers[0] + len(numbers))), (
            "numbers must not be consecutive"
        )
    train_names = [name for names in archives.train_order.values() for name in names]
    assert len(train_names) == len(set(train_names))
    assert set(train_names) == set(mini_expected["images"]["train"])


def test_validation_tar_is_flat_complete_and_not_sorted(
    archives: Archives, mini_expected: dict[str, Any]
) -> None:
    count = len(mini_expected["images"]["validation"])
    assert sorted(archives.val_order) == [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, count + 1)]
    assert archives.val_order != sorted(archives.val_order)


def test_devkit_members(archives: Archives) -> None:
    assert set(archives.devkit) == {
        "ILSVRC2012_devkit_t12/readme.txt",
        DEVKIT_DATA + "meta.mat",
        DEVKIT_DATA + "ILSVRC2012_validation_ground_truth.txt",
        DEVKIT_DATA + "ILSVRC2012_validation_blacklist.txt",
    }


def test_meta_mat_synsets(
    meta: tuple[np.ndarray, list[Synset]], archives: Archives, mini_expected: dict
) -> None:
    table, rows = meta
    assert table.shape == (len(rows), 1), "a column, as in the real devkit"
    assert table.dtype.names == FIELDS
    chosen = _chosen(mini_expected)
    k = len(chosen)
    leaves = [row for row in rows if row.num_children == 0]
    assert sorted(row.wnid for row in leaves) == chosen
    assert sorted(row.ilsvrc_id for row in leaves) == list(range(1, k + 1))
    ids_in_wnid_order = [row.ilsvrc_id for row in sorted(leaves, key=lambda r: r.wnid)]
    assert ids_in_wnid_order != sorted(ids_in_wnid_order), "ILSVRC2012_ID order must differ from WNID order"
    for row in leaves:
        assert (row.children, row.wordnet_height) == ((), 0)
        assert row.num_train_images == len(archives.train_order[f"{row.wnid}.tar"])
    by_id = {row.ilsvrc_id: row for row in rows}
    internal = [row for row in rows if row.num_children]
    assert internal and all(row.ilsvrc_id > k for row in internal)
    assert all(row.wnid not in chosen for row in internal)
    for row in internal:
        assert len(row.children) == row.num_children and all(child in by_id for child in row.children)
        assert row.wordnet_height == 1 + max(by_id[child].wordnet_height for child in row.children)
    assert {child for row in internal for child in row.children} == set(by_id) - {max(by_id)}
    assert {c["wnid"]: c["ilsvrc_id"] for c in mini_expected["classes"]} == {
        r.wnid: r.ilsvrc_id for r in leaves
    }


def test_meta_mat_reads_as_public_scripts_read_it(
    meta: tuple[np.ndarray, list[Synset]], archives: Archives
) -> None:
    """``for row in synsets: row[0][0][0][0]`` (ID) and ``row[0][1][0]`` (WNID), and ``squeeze_me``."""
    table, rows = meta
    scripted = [(int(row[0][0][0][0]), str(row[0][1][0]), int(row[0][4][0][0])) for row in table]
    assert scripted == [(r.ilsvrc_id, r.wnid, r.num_children) for r in rows]
    squeezed = scipy.io.loadmat(io.BytesIO(archives.devkit[DEVKIT_DATA + "meta.mat"]), squeeze_me=True)
    assert [(int(r["ILSVRC2012_ID"]), str(r["WNID"])) for r in squeezed["synsets"]] == [
        (r.ilsvrc_id, r.wnid) for r in rows
    ]
    assert any(r.num_children for r in rows), "internal WordNet nodes are kept"


def test_labels_are_one_plus_sorted_wnid_index(mini_expected: dict[str, Any]) -> None:
    words = dict(imagenet1k_classes())
    classes = mini_expected["classes"]
    assert [c["label"] for c in classes] == list(range(1, len(classes) + 1))
    assert [c["wnid"] for c in classes] == sorted(c["wnid"] for c in classes)
    assert all(c["words"] == words[c["wnid"]] for c in classes)
    label = {c["wnid"]: c["label"] for c in classes}
    for name, entry in mini_expected["images"]["train"].items():
        assert entry["synset"] == name.split("_")[0]
        assert (entry["label"], entry["text"]) == (label[entry["synset"]], words[entry["synset"]])


def test_ground_truth_blacklist_and_slim_labels(
    archives: Archives,
    meta: tuple[np.ndarray, list[Synset]],
    mini_imagenet: Path,
    mini_expected: dict[str, Any],
) -> None:
    wnid_of = {row.ilsvrc_id: row.wnid for row in meta[1] if row.num_children == 0}
    label = {c["wnid"]: c["label"] for c in mini_expected["classes"]}
    validation = mini_expected["images"]["validation"]
    truth = [
        int(line) for line in _lines(archives.devkit[DEVKIT_DATA + "ILSVRC2012_validation_ground_truth.txt"])
    ]
    assert len(truth) == len(validation)
    wnids = [wnid_of[ilsvrc_id] for ilsvrc_id in truth]
    for index, wnid in enumerate(wnids, start=1):
        entry = validation[f"ILSVRC2012_val_{index:08d}.JPEG"]
        assert (entry["synset"], entry["label"], entry["boxes"]) == (wnid, label[wnid], [])
    assert _lines((mini_imagenet / "imagenet_2012_validation_synset_labels.txt").read_bytes()) == wnids
    blacklist = [
        int(line) for line in _lines(archives.devkit[DEVKIT_DATA + "ILSVRC2012_validation_blacklist.txt"])
    ]
    assert (
        blacklist
        and blacklist == sorted(set(blacklist))
        and blacklist[0] >= 1
        and blacklist[-1] <= len(truth)
    )


# --- image quirks ------------------------------------------------------------------------------------


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_every_image_header_matches_expected(archives: Archives, mini_expected: dict[str, Any]) -> None:
    entries = _all_entries(mini_expected)
    assert set(archives.images) == set(entries)
    for name, data in archives.images.items():
        entry = entries[name]
        image = _open(data)
        quirks = set(entry["quirks"])
        assert image.size == (entry["width"], entry["height"]), name
        assert image.format == ("PNG" if "png" in quirks else "JPEG"), name
        mode = "CMYK" if "cmyk" in quirks else "L" if "grayscale" in quirks else "RGB"
        assert image.mode == mode, name
        assert bool(image.info.get("progressive")) == ("progressive" in quirks), name
        assert image.getexif().get(0x0112) == (6 if "exif_orientation" in quirks else None), name
        assert entry["reencoded"] == bool(quirks & {"png", "cmyk"}), name


def test_realistic_sizes_by_default(archives: Archives, mini_expected: dict[str, Any]) -> None:
    entries = _all_entries(mini_expected)
    sides = [side for e in entries.values() for side in (e["width"], e["height"])]
    assert min(sides) >= 200 and max(sides) <= 500
    assert len({(e["width"], e["height"]) for e in entries.values()}) > 10, "aspect ratios must vary"
    assert any(e["height"] > e["width"] for e in entries.values()), "some portrait images"
    mean_kb = np.mean([len(data) for data in archives.images.values()]) / 1000
    assert 80 <= mean_kb <= 140, mean_kb


def test_real_quirk_files_are_there_by_name(archives: Archives, mini_expected: dict[str, Any]) -> None:
    chosen = set(_chosen(mini_expected))
    assert "n02105855" in chosen
    assert _open(archives.images[PNG_NAME]).format == "PNG"
    assert _with_quirk(mini_expected, "png") == {PNG_NAME}
    cmyk_train = _with_quirk(mini_expected, "cmyk", "train")
    assert cmyk_train == {name for name in REAL_CMYK if name.split("_")[0] in chosen}
    assert len(cmyk_train) >= 2
    assert all(_open(archives.images[name]).mode == "CMYK" for name in cmyk_train)


def test_cmyk_is_written_as_pillow_does(archives: Archives, mini_expected: dict[str, Any]) -> None:
    for name in _with_quirk(mini_expected, "cmyk"):
        assert b"Adobe" in archives.images[name][:64], name


@pytest.mark.parametrize(
    ("quirk", "split", "least"),
    [
        ("grayscale", "train", 2),
        ("progressive", "train", 1),
        ("exif_orientation", "train", 1),
        ("cmyk", "validation", 1),
        ("grayscale", "validation", 1),
    ],
)
def test_image_quirk_present(mini_expected: dict[str, Any], quirk: str, split: str, least: int) -> None:
    assert len(_with_quirk(mini_expected, quirk, split)) >= least


def test_content_depends_on_the_class(archives: Archives, mini_expected: dict[str, Any]) -> None:
    """A nearest-mean-colour classifier fit on train images labels validation crops and flips right."""

    def colour(name: str, crop: bool = False) -> np.ndarray:
        image = _open(archives.images[name])
        if crop:
            w, h = image.size
            image = image.crop((w // 3, h // 4, w // 3 + w // 2, h // 4 + h // 2)).transpose(
                Image.FLIP_LEFT_RIGHT
            )
        return np.asarray(image.reduce(4), dtype=np.float64).reshape(-1, 3).mean(axis=0)

    def plain(split: str) -> dict[str, dict[str, Any]]:
        return {
            n: e
            for n, e in mini_expected["images"][split].items()
            if not {"grayscale", "cmyk", "png"} & set(e["quirks"])
        }

    by_label: dict[int, list[np.ndarray]] = defaultdict(list)
    for name, entry in plain("train").items():
        by_label[entry["label"]].append(colour(name))
    labels = sorted(by_label)
    centroids = np.array([np.mean(by_label[label], axis=0) for label in labels])
    validation = plain("validation")
    hits = sum(
        labels[int(np.argmin(np.linalg.norm(centroids - colour(name, crop=True), axis=1)))] == entry["label"]
        for name, entry in validation.items()
    )
    assert hits / len(validation) >= 0.9


# --- bounding-box XML ----------------------------------------------------------------------------------


def _text(root: etree._Element, path: str) -> str:
    return root.findtext(path).strip()


def _objects(root: etree._Element) -> list[tuple[str, tuple[int, int, int, int]]]:
    return [
        (_text(o, "name"), tuple(int(_text(o, f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax")))
        for o in root.iter("object")
    ]


def _observed_quirks(
    root: etree._Element, stem: str, wnid: str, real_size: tuple[int, int], chosen: set[str]
) -> set[str]:
    """The XML quirks visible in one file, judged from the file and the real image alone."""
    width, height = int(_text(root, "size/width")), int(_text(root, "size/height"))
    objects = _objects(root)
    boxes = [box for _, box in objects]
    first = objects[0][0]
    checks = {
        "box_past_border": any(
            min(b) < 0 or max(b[0], b[2]) > width or max(b[1], b[3]) > height for b in boxes
        ),
        "box_min_gt_max": any(b[0] > b[2] or b[1] > b[3] for b in boxes),
        "wrong_size": (width, height) != real_size,
        "foreign_wnid": first in chosen and first != wnid,
        "human_name": re.fullmatch(r"n[0-9]{8}", first) is None,
        "percent_s_filename": _text(root, "filename") == "%s",
    }
    # Past-border and foreign-WNID files hold two objects to make their point; others only when the quirk.
    checks["multiple_objects"] = len(objects) > 1 and not (
        checks["box_past_border"] or checks["foreign_wnid"]
    )
    assert _text(root, "filename") in (stem, "%s")
    return {quirk for quirk, seen in checks.items() if seen}


def test_train_xml_layout_and_quirks(archives: Archives, mini_expected: dict[str, Any]) -> None:
    train = mini_expected["images"]["train"]
    chosen = set(_chosen(mini_expected))
    orphans = []
    for member, root in archives.train_xml.items():
        folder, file_name = member.split("/")
        stem = file_name.removesuffix(".xml")
        assert re.fullmatch(rf"{folder}_[1-9][0-9]*", stem) and folder in chosen, member
        assert _text(root, "folder") == folder
        name = f"{stem}.JPEG"
        if name not in train:
            orphans.append(member)
            continue
        entry = train[name]
        observed = _observed_quirks(root, stem, folder, (entry["width"], entry["height"]), chosen)
        assert observed == set(entry["quirks"]) & set(XML_QUIRKS), member
        assert "no_xml" not in entry["quirks"]
    assert orphans and sorted(orphans) == sorted(mini_expected["xml_quirks"]["xml_without_image"])
    with_xml = {f"{m.split('/')[1].removesuffix('.xml')}.JPEG" for m in archives.train_xml}
    without = set(train) - with_xml
    assert without == _with_quirk(mini_expected, "no_xml", "train")
    assert 0.25 <= len(set(train) & with_xml) / len(train) <= 0.55


@pytest.mark.parametrize("quirk", XML_QUIRKS)
def test_each_xml_quirk_is_present_in_train(mini_expected: dict[str, Any], quirk: str) -> None:
    names = _with_quirk(mini_expected, quirk, "train")
    assert names
    assert names <= set(mini_expected["xml_quirks"][quirk])


def test_boxes_follow_their_quirks(mini_expected: dict[str, Any]) -> None:
    train = mini_expected["images"]["train"]
    assert all(train[name]["boxes"] == [] for name in _with_quirk(mini_expected, "foreign_wnid", "train"))
    assert all(train[name]["boxes"] for name in _with_quirk(mini_expected, "human_name", "train"))
    assert all(len(train[n]["boxes"]) > 1 for n in _with_quirk(mini_expected, "multiple_objects", "train"))
    # One box sticks out (clamped to the border), one lies wholly outside (dropped).
    for name in _with_quirk(mini_expected, "box_past_border", "train"):
        assert len(train[name]["boxes"]) == 1 and 1.0 in train[name]["boxes"][0]


def test_validation_xml_for_every_image(archives: Archives, mini_expected: dict[str, Any]) -> None:
    validation = mini_expected["images"]["validation"]
    chosen = set(_chosen(mini_expected))
    assert sorted(archives.val_xml) == sorted(f"val/{name.removesuffix('.JPEG')}.xml" for name in validation)
    for member, root in archives.val_xml.items():
        stem = member.removeprefix("val/").removesuffix(".xml")
        entry = validation[f"{stem}.JPEG"]
        observed = _observed_quirks(root, stem, entry["synset"], (entry["width"], entry["height"]), chosen)
        assert observed == set(entry["quirks"]) & set(XML_QUIRKS), member
        assert entry["boxes"] == [] and entry["validation_boxes"]


# --- determinism and options -----------------------------------------------------------------------


def test_same_options_give_byte_identical_files(mini_imagenet: Path, tmp_path: Path) -> None:
    generate(tmp_path, FakeOptions())
    for path in mini_imagenet.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_gzip_headers_and_tar_members_carry_no_clock(mini_imagenet: Path) -> None:
    for name in (
        "ILSVRC2012_devkit_t12.tar.gz",
        "ILSVRC2012_bbox_train_v2.tar.gz",
        "ILSVRC2012_bbox_val_v3.tgz",
    ):
        header = (mini_imagenet / name).read_bytes()[:10]
        assert header[:2] == b"\x1f\x8b" and header[4:8] == b"\0\0\0\0", name
        with gzip.open(mini_imagenet / name) as raw, tarfile.open(fileobj=raw) as tar:
            assert len({m.mtime for m in tar.getmembers()}) == 1


def _tiny(folder: Path, **changes: Any) -> dict[str, Any]:
    options = {"classes": 4, "train_per_class": (6, 8), "val_images": 8, "tiny_images": True, **changes}
    return generate(folder, FakeOptions(**options))


def test_tiny_images_are_a_few_hundred_bytes(tmp_path: Path) -> None:
    summary = _tiny(tmp_path)
    assert summary["mean_image_bytes"] < 1000
    with tarfile.open(tmp_path / "ILSVRC2012_img_val.tar") as tar:
        sizes = [_open(tar.extractfile(m).read()).size for m in tar.getmembers()]
    assert all(8 <= side <= 32 for size in sizes for side in size)


def test_seed_changes_classes_but_keeps_the_quirk_classes(tmp_path: Path) -> None:
    wnids = []
    for seed in (1, 2):
        _tiny(tmp_path / str(seed), seed=seed, classes=6)
        with tarfile.open(tmp_path / str(seed) / "ILSVRC2012_img_train.tar") as tar:
            wnids.append({m.name.removesuffix(".tar") for m in tar.getmembers()})
    assert wnids[0] != wnids[1]
    assert all(
        "n02105855" in chosen and len(chosen & {n.split("_")[0] for n in REAL_CMYK}) >= 2 for chosen in wnids
    )


def test_pool_reuses_bytes_but_names_stay_unique(tmp_path: Path) -> None:
    _tiny(tmp_path, classes=2, train_per_class=(30, 30), pool_size=3)
    with (
        tarfile.open(tmp_path / "ILSVRC2012_img_train.tar") as outer,
        tarfile.open(fileobj=outer.extractfile(outer.getmembers()[0])) as inner,
    ):
        members = _files(inner)
    assert len({name for name, _ in members}) == 30
    assert len({data for _, data in members}) < 10


@pytest.mark.parametrize("seed", [0, 1])
def test_imagenet_counts_match_the_real_archive(seed: int) -> None:
    counts = imagenet_counts(1000, np.random.default_rng(seed))
    assert (sum(counts), min(counts), max(counts)) == (1_281_167, 732, 1300)
    small = imagenet_counts(10, np.random.default_rng(seed))
    assert all(732 <= c <= 1300 for c in small)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="classes"):
        FakeOptions(classes=0)
    with pytest.raises(ValueError, match="train_per_class"):
        FakeOptions(train_per_class=(5, 2))


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(
        flag in out for flag in ("--classes", "--tiny-images", "--train-per-class", "--full-cardinality")
    )


def test_cli_generates_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--output", str(tmp_path), "--classes", "3", "--train-per-class", "4-6", "--val-images", "6"]
    assert main([*args, "--tiny-images", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "3 classes" in out and "ILSVRC2012_img_train.tar" in out
    assert {p.name for p in tmp_path.iterdir()} == ARCHIVES | SIDE_FILES
