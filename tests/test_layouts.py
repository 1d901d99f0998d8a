"""Every input layout gives the same plan as the official archives; each layout's quirks and faults.

Plans are built in this process (no Beam): what a shard will hold (names, labels, boxes) is the
whole of what a layout decides. tests/test_layouts_e2e.py converts each layout byte for byte.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from imagenet_convert.errors import exit_status
from imagenet_convert.inputs.archives import ArchiveError
from imagenet_convert.inputs.layouts import LAYOUTS, LayoutError, NoInputError, open_layout
from imagenet_convert.plan.build import build_plan, find_inputs
from imagenet_convert.plan.model import Plan, PlanError, PlanOptions
from tests.support.damage import link_tree

FOLDER_LAYOUTS = ("extracted", "valprep", "kaggle-tree", "kaggle-zip")
DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"


def plan_of(folder: Path | str, layout: str | None = None, **options) -> Plan:
    chosen = PlanOptions(train_shards=4, validation_shards=2, **options)
    found = open_layout(str(folder), layout, chosen.skip_bad_images, chosen.validation_labels)
    return build_plan(found, chosen, find_inputs(found, chosen))


def contents(plan: Plan) -> list[tuple[str, list]]:
    """What each shard will hold, in order; not where the bytes are."""
    return [(s.name, [(i.filename, i.label, i.boxes) for i in s.images]) for s in plan.shards]


@pytest.fixture(scope="module")
def official_plan(mini_imagenet: Path) -> Plan:
    return plan_of(mini_imagenet, validation_boxes=True)


@pytest.mark.parametrize("layout", FOLDER_LAYOUTS)
def test_every_layout_plans_the_same_shards(layout: str, mini_layout, official_plan: Plan) -> None:
    folder = mini_layout(layout)
    assert open_layout(str(folder)).name == layout
    plan = plan_of(folder, validation_boxes=True)
    assert contents(plan) == contents(official_plan)
    assert [c.words for c in plan.classes] == [c.words for c in official_plan.classes]
    assert plan.inputs["layout"] == layout
    if layout in ("extracted", "valprep"):
        assert plan.counts["junk_skipped"] == 5  # .DS_Store, ._*, Thumbs.db, desktop.ini, an empty folder


def test_kaggle_zip_given_as_the_file_itself(mini_layout, official_plan: Plan) -> None:
    archive = mini_layout("kaggle-zip") / "imagenet-object-localization-challenge.zip"
    plan = plan_of(archive)
    assert contents(plan)[:4] == contents(official_plan)[:4]  # train shards (no validation boxes asked)
    assert plan.inputs == {"layout": "kaggle-zip", archive.name: archive.stat().st_size}


def test_each_split_is_found_on_its_own(
    mini_imagenet: Path, mini_layout, official_plan: Plan, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    link_tree(mini_layout("extracted"), folder)
    shutil.rmtree(folder / "train")
    (folder / "ILSVRC2012_img_train.tar").symlink_to(mini_imagenet / "ILSVRC2012_img_train.tar")
    layout = open_layout(str(folder))
    assert layout.describe() == "extracted (train from ILSVRC2012_img_train.tar, validation from val/)"
    assert contents(plan_of(folder, validation_boxes=True)) == contents(official_plan)


def test_layout_can_be_forced(mini_layout) -> None:
    folder = mini_layout("valprep")
    with pytest.raises(LayoutError, match="missing ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar"):
        plan_of(folder, "official")
    with pytest.raises(LayoutError, match="not a validation image"):
        plan_of(folder, "extracted")


def test_nothing_matches_says_what_was_found_and_what_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "cat.jpg").write_bytes(b"x")
    with pytest.raises(LayoutError) as error:
        open_layout(str(tmp_path))
    message = str(error.value)
    assert "(found: images/)" in message
    for name, layout in LAYOUTS.items():
        assert f"{name}: {layout.key_files}" in message


def test_without_a_devkit_classes_come_from_the_folders(
    mini_layout, official_plan: Plan, tmp_path: Path
) -> None:
    folder = link_tree(mini_layout("extracted"), tmp_path / "nodevkit")
    (folder / DEVKIT).unlink()
    plan = plan_of(folder, validation_boxes=True)
    assert contents(plan) == contents(official_plan)  # labels from Slim's WNID file, words packaged
    (folder / "imagenet_2012_validation_synset_labels.txt").unlink()
    with pytest.raises(LayoutError, match="validation images need labels"):
        plan_of(folder)
    assert contents(plan_of(folder, splits=("train",)))[:4] == contents(official_plan)[:4]


def test_extracted_devkit_folder_is_read(
    mini_imagenet: Path, mini_layout, official_plan: Plan, tmp_path: Path
) -> None:
    folder = link_tree(mini_layout("extracted"), tmp_path / "kitfolder")
    (folder / DEVKIT).unlink()
    (folder / "imagenet_2012_validation_synset_labels.txt").unlink()
    shutil.copytree(mini_layout("valprep") / "ILSVRC2012_devkit_t12", folder / "ILSVRC2012_devkit_t12")
    plan = plan_of(folder, validation_boxes=True)
    assert contents(plan) == contents(official_plan)
    assert plan.classes == official_plan.classes  # with the devkit's ILSVRC2012_IDs


def test_a_class_both_as_tar_and_folder_is_an_error(mini_imagenet: Path, mini_layout, tmp_path: Path) -> None:
    folder = link_tree(mini_layout("extracted"), tmp_path / "both")
    tar = next((folder / "train").glob("*.tar"))
    (folder / "train" / tar.stem).mkdir()
    image = next(p for p in (folder / "train").glob("n*/*.JPEG"))
    (folder / "train" / tar.stem / f"{tar.stem}_1.JPEG").symlink_to(image.resolve())
    with pytest.raises(LayoutError, match=f"class {tar.stem} is both this tar and the folder"):
        plan_of(folder)


def test_valprep_disagreeing_with_the_devkit_names_the_first_image(mini_layout, tmp_path: Path) -> None:
    folder = link_tree(mini_layout("valprep"), tmp_path / "moved")
    first = sorted((folder / "validation").glob("*/*.JPEG"), key=lambda p: p.name)[0]
    other = next(p for p in sorted((folder / "validation").iterdir()) if p.name != first.parent.name)
    first.rename(other / first.name)
    with pytest.raises(LayoutError) as error:
        plan_of(folder)
    assert f"validation/{other.name}/{first.name}: its folder says {other.name}" in str(error.value)
    assert "disagree" in str(error.value)


@pytest.mark.parametrize(
    "spoil, problem",
    [
        (lambda d, img: (d / "broken.JPEG").symlink_to(d / "nowhere"), "a broken symbolic link"),
        (lambda d, img: (d / "loop.JPEG").symlink_to(d / "loop.JPEG"), "a symbolic link that loops"),
        (lambda d, img: (d / "up").symlink_to(d), "a folder inside the input (a loop"),
        (lambda d, img: (d / f"{img.stem}_9.JPEG.part").write_bytes(b"x"), "a partial download"),
        (lambda d, img: (d / f"{d.name}_999999.JPEG").write_bytes(b""), "an empty (zero-byte) image file"),
        (lambda d, img: (d / "notes.txt").write_text("x"), "unknown file"),
    ],
    ids=["broken-link", "looping-link", "folder-loop", "partial", "zero-byte", "unknown"],
)
def test_bad_files_stop_or_are_skipped_and_listed(
    spoil, problem: str, mini_layout, official_plan, tmp_path: Path
) -> None:
    folder = link_tree(mini_layout("extracted"), tmp_path / "bad")
    class_folder = sorted(p for p in (folder / "train").iterdir() if p.is_dir())[0]
    spoil(class_folder, next(class_folder.glob("*.JPEG")))
    with pytest.raises(LayoutError) as error:
        plan_of(folder)
    assert str(error.value).startswith(f"train/{class_folder.name}/") and problem in str(error.value)
    assert "--skip-bad-images" in str(error.value)
    plan = plan_of(folder, skip_bad_images=True, validation_boxes=True)
    assert [s["problem"] for s in plan.skipped] == [next(s["problem"] for s in plan.skipped)]
    assert problem in plan.skipped[0]["problem"]
    assert contents(plan) == contents(official_plan)


def test_fingerprint_covers_the_layout_and_its_files(mini_layout, tmp_path: Path) -> None:
    folder = link_tree(mini_layout("extracted"), tmp_path / "fp")
    before = plan_of(folder, splits=("train",)).fingerprint
    image = next((folder / "train").glob("n*/*.JPEG"))
    image.unlink()
    image.write_bytes(b"\xff\xd8 a different image")
    assert plan_of(folder, splits=("train",)).fingerprint != before


def test_kaggle_solution_must_cover_the_validation_images(mini_layout, tmp_path: Path) -> None:
    folder = link_tree(mini_layout("kaggle-tree"), tmp_path / "kaggle")
    solution = folder / "LOC_val_solution.csv"
    lines = solution.read_text().splitlines(keepends=True)
    solution.unlink()
    solution.write_text("".join(lines[:-1]))
    dropped = lines[-1].split(",")[0]
    with pytest.raises(LayoutError, match=f"no row for ILSVRC/Data/CLS-LOC/val/{dropped}.JPEG"):
        plan_of(folder)


def test_kaggle_ignores_test_images_and_lists(mini_layout) -> None:
    plan = plan_of(mini_layout("kaggle-tree"))
    assert plan.counts["kaggle_files_ignored"] == 3 + 4  # three test images, four ImageSets lists


def test_a_damaged_zip_is_a_clear_error(mini_layout, tmp_path: Path) -> None:
    source = mini_layout("kaggle-zip") / "imagenet-object-localization-challenge.zip"
    cut = tmp_path / source.name
    cut.write_bytes(source.read_bytes()[: os.path.getsize(source) // 2])
    with pytest.raises(ArchiveError, match="not a readable ZIP"):
        open_layout(str(tmp_path))


def test_unknown_train_class_is_an_error(mini_layout, tmp_path: Path) -> None:
    folder = link_tree(mini_layout("extracted"), tmp_path / "alien")
    (folder / DEVKIT).unlink()
    alien = folder / "train" / "n99999999"
    alien.mkdir()
    (alien / "n99999999_1.JPEG").write_bytes(b"\xff\xd8")
    with pytest.raises(LayoutError, match="class n99999999 is not one of the 1000 ILSVRC2012 classes"):
        plan_of(folder)
    with pytest.raises(PlanError, match="n99999999"):
        (folder / DEVKIT).symlink_to(mini_layout("official") / DEVKIT)
        plan_of(folder)


def test_an_input_naming_no_download_exits_as_a_usage_error_though_it_is_a_layout_error_too() -> None:
    assert exit_status(NoInputError("nothing here")) == 2
    assert exit_status(LayoutError("a part is damaged")) == 1
