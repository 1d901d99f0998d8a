"""Bad input in the folder and ZIP layouts gets one line naming the file, or the promised skip.

Each case spoils a hard-linked copy of the small miniature in one layout the way a damaged download,
a tree copied from elsewhere or a hostile archive would, then plans and writes it in this process as
``run`` does (tests.test_bad_input.convert_here). Every case checks the one-line message (or the
skipped file listed and the other images' labels right), and that the input and everything beside
the output are as they were. test_bad_layouts_cli.py runs the command line where only a process
shows what matters: its memory, its exit status, that it ends.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from imagenet_convert.inputs.archives import ArchiveError
from imagenet_convert.inputs.layouts.kaggle import KAGGLE_ZIP, MAPPING, VAL_SOLUTION
from imagenet_convert.plan.model import Plan
from tests.support import damage
from tests.test_bad_input import REFUSED, _check_nothing_half_written, convert_here, plan_here

GB = 1 << 30


@contextmanager
def untouched(folder: Path, *outputs: str) -> Iterator[None]:
    """Nothing under ``folder`` changes but what lies under ``outputs`` (``out``, ``out-skipping`` ...
    by default): not the damaged input, nor (through its hard links) the shared miniature."""
    written = tuple(output.encode() for output in outputs or ("out",))
    before = {p: s for p, s in damage.tree_state(folder).items() if not p.startswith(written)}
    yield
    after = {p: s for p, s in damage.tree_state(folder).items() if not p.startswith(written)}
    assert after == before


def refused(folder: Path, out: Path, *extra: str) -> str:
    """The one line a run of ``folder`` stops with (planning or writing); the output half-written never."""
    with pytest.raises(REFUSED) as error:
        convert_here(folder, out, *extra)
    message = str(error.value)
    assert message and "\n" not in message and message.isprintable(), message
    if out.exists():
        _check_nothing_half_written(out)
    return message


def labels(plan: Plan, split: str) -> dict[str, int]:
    return {image.filename: image.label for shard in plan.split_shards(split) for image in shard.images}


def expected_labels(folder: Path, split: str) -> dict[str, int]:
    images = json.loads((folder / "expected.json").read_text())["images"][split]
    return {name: image["label"] for name, image in images.items()}


def copy_of(small_layout: Callable[[str], Path], layout: str, tmp_path: Path) -> Path:
    return damage.clone_tree(small_layout(layout), tmp_path / "in")


# --- ZIP members: bounded, their sizes and CRC-32 checked ---------------------------------------------


def _spoil_zip(folder: Path, edit: Callable[[list[damage.ZipEntry]], list[damage.ZipEntry]]) -> None:
    archive = folder / KAGGLE_ZIP
    entries = edit(damage.zip_entries(archive))
    archive.unlink()
    damage.write_zip(archive, entries)


def _image_member(entries: list[damage.ZipEntry], stored: bool) -> int:
    """The index of the first train image member, stored or deflated."""
    return next(
        i
        for i, e in enumerate(entries)
        if "/train/" in e.name and e.name.endswith(".JPEG") and (e.method == 0) == stored
    )


def _edit_image(stored: bool, **change: object) -> Callable[[list[damage.ZipEntry]], list[damage.ZipEntry]]:
    def edit(entries: list[damage.ZipEntry]) -> list[damage.ZipEntry]:
        index = _image_member(entries, stored)
        entry = entries[index]
        values = {key: value(entry) if callable(value) else value for key, value in change.items()}
        entries[index] = entry._replace(**values)
        return entries

    return edit


def _flip(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]


BOMB = damage.zeros_deflated(4096)  # 4 GB of zeros in 4 MB
ZIP_CASES: dict[str, tuple[Callable[[list[damage.ZipEntry]], list[damage.ZipEntry]], list[str]]] = {
    # name: (edit of the members, fragments of the one line); each names the ZIP and the member
    "stored-crc": (_edit_image(True, raw=lambda e: _flip(e.raw)), ["CRC-32", "--skip-bad-images"]),
    "deflated-crc": (_edit_image(False, crc=lambda e: e.crc ^ 1), ["CRC-32"]),
    "deflated-damaged": (_edit_image(False, raw=lambda e: e.raw[: len(e.raw) // 2] + bytes(64)), ["deflate"]),
    "encrypted": (_edit_image(True, flags=1), ["encrypted"]),
    "method": (_edit_image(True, method=12), ["compression method 12"]),
    "bomb-declared": (_edit_image(False, raw=BOMB, size=4 * GB, crc=0), ["4,294,967,296 bytes", "64 MiB"]),
    "bomb-small-header": (_edit_image(False, raw=BOMB, size=60_000, crc=0), ["more than the 60,000 bytes"]),
    "bomb-local-header": (
        _edit_image(False, raw=BOMB, size=60_000, local_size=4 * GB, crc=0), ["declares 4,294,967,296 bytes"],
    ),
    "short-inflation": (_edit_image(False, size=lambda e: e.size + 1), ["where its header declares"]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(ZIP_CASES))
def test_a_zip_member_is_read_bounded_and_checked(case: str, small_layout, tmp_path: Path) -> None:
    edit, fragments = ZIP_CASES[case]
    folder = copy_of(small_layout, "kaggle-zip", tmp_path)
    _spoil_zip(folder, edit)
    with untouched(tmp_path):
        message = refused(folder, tmp_path / "out")
        for fragment in [KAGGLE_ZIP, "member ", ".JPEG", *fragments]:
            assert fragment in message, message
        convert_here(folder, tmp_path / "out-skipping", "--skip-bad-images")
    markers = (tmp_path / "out-skipping" / ".imagenet-convert" / "done").glob("*.json")
    left_out = [s for marker in markers for s in json.loads(marker.read_text())["skipped"]]
    plan, _ = plan_here(folder, "--skip-bad-images")
    assert len(left_out + plan.skipped) == 1, (left_out, plan.skipped)


@pytest.mark.parametrize("flags", [0, 8], ids=["sizes-in-header", "data-descriptor"])
def test_a_rewritten_zip64_reads_as_generated(flags: int, small_layout, tmp_path: Path) -> None:
    """The check accepts what ZIP writers do: sizes in the ZIP64 extra field, or after the data."""
    folder = copy_of(small_layout, "kaggle-zip", tmp_path)
    _spoil_zip(folder, lambda entries: [e._replace(flags=flags) for e in entries])
    convert_here(folder, tmp_path / "out")
    assert labels(plan_here(folder)[0], "validation") == expected_labels(folder, "validation")


def _duplicate(entries: list[damage.ZipEntry]) -> list[damage.ZipEntry]:
    other = b"other bytes"
    copy = entries[_image_member(entries, True)]._replace(raw=other, crc=zlib.crc32(other), size=len(other))
    return [*entries, copy]


ZIP_LISTING_CASES = {
    "duplicate-name": (_duplicate, ["is listed 2 times", "which copy"]),
    "newline-name": (
        lambda entries: [*entries, entries[0]._replace(name="ILSVRC/Data/CLS-LOC/val/x\n.JPEG")],
        ["ILSVRC/Data/CLS-LOC/val/x\\n.JPEG"],
    ),
}


@pytest.mark.parametrize("case", sorted(ZIP_LISTING_CASES))
def test_a_zip_listing_that_cannot_be_trusted_is_an_error(case: str, small_layout, tmp_path: Path) -> None:
    edit, fragments = ZIP_LISTING_CASES[case]
    folder = copy_of(small_layout, "kaggle-zip", tmp_path)
    _spoil_zip(folder, edit)
    with untouched(tmp_path):
        message = refused(folder, tmp_path / "out")
    for fragment in [KAGGLE_ZIP, *fragments]:
        assert fragment in message, message


def _central_entries(data: bytes) -> list[int]:
    """Where each central directory entry of a ZIP written by ``damage.write_zip`` starts."""
    count, _, position = struct.unpack_from("<3Q", data, data.rindex(b"PK\6\6") + 32)
    entries = []
    for _ in range(count):
        entries.append(position)
        position += 46 + sum(struct.unpack_from("<3H", data, position + 28))
    return entries


def _central_values(data: bytearray, entry: int) -> slice:
    """The ZIP64 field of a central entry: inflated size, compressed size, local header offset."""
    start = entry + 46 + struct.unpack_from("<H", data, entry + 28)[0] + 4
    return slice(start, start + 24)


def test_overlapping_members_are_an_error(small_layout, tmp_path: Path) -> None:
    """A central directory whose members share bytes (the overlapping-files bomb): written by hand."""
    folder = copy_of(small_layout, "kaggle-zip", tmp_path)
    _spoil_zip(folder, lambda entries: entries)  # written again with ZIP64 central entries
    data = bytearray((folder / KAGGLE_ZIP).read_bytes())
    values = _central_values(data, _central_entries(data)[1])
    data[values.stop - 8 : values.stop] = bytes(8)  # the second member starts where the first does
    damage.rewrite(folder / KAGGLE_ZIP, bytes(data))
    with untouched(tmp_path), pytest.raises(ArchiveError) as error:
        plan_here(folder)
    assert "overlaps" in str(error.value) and KAGGLE_ZIP in str(error.value)


def test_a_central_directory_pointing_at_another_members_header_is_an_error(
    small_layout, tmp_path: Path
) -> None:
    """Two images' central entries swapped but for their names: each image would be the other's bytes,
    with every size and CRC-32 consistent; only the local headers' names tell."""
    folder = copy_of(small_layout, "kaggle-zip", tmp_path)
    _spoil_zip(folder, lambda entries: entries)
    data = bytearray((folder / KAGGLE_ZIP).read_bytes())
    names = [entry.name for entry in damage.zip_entries(folder / KAGGLE_ZIP)]
    images = [i for i, name in enumerate(names) if "/train/" in name and name.endswith(".JPEG")]
    one, other = (_central_entries(data)[i] for i in images[:2])
    crc = (slice(one + 16, one + 20), slice(other + 16, other + 20))
    for first, second in (crc, (_central_values(data, one), _central_values(data, other))):
        data[first], data[second] = data[second], data[first]
    damage.rewrite(folder / KAGGLE_ZIP, bytes(data))
    with untouched(tmp_path):
        message = refused(folder, tmp_path / "out")
    assert KAGGLE_ZIP in message and "disagree" in message, message
    assert names[images[0]] in message or names[images[1]] in message, message


# --- Kaggle's CSV and mapping, validated as a whole ------------------------------------------------


def _edit_lines(name: str, edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        lines = (folder / name).read_text().splitlines()
        damage.rewrite(folder / name, ("\n".join(edit(lines)) + "\n").encode())

    return apply


def _second_row_other_class(lines: list[str]) -> list[str]:
    image, boxes = lines[1].split(",")
    classes = (row.split(",")[1].split()[0] for row in lines[2:])
    other = next(wnid for wnid in classes if wnid != boxes.split()[0])
    return [*lines, f"{image},{other} 1 2 3 4"]


def _row(edit: Callable[[str, str], str]) -> Callable[[Path], None]:
    """The first row of the solution made ``edit(image, boxes)``."""
    return _edit_lines(VAL_SOLUTION, lambda lines: [lines[0], edit(*lines[1].split(",")), *lines[2:]])


KAGGLE_CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    # name: (spoil the kaggle-tree copy, fragments of the one line)
    "solution-id-twice": (
        _edit_lines(VAL_SOLUTION, _second_row_other_class),
        [VAL_SOLUTION, "line 8", "second row", "line 2"],
    ),
    "solution-unknown-wnid": (
        _row(lambda image, boxes: f"{image},n99999999 1 2 3 4"),
        [VAL_SOLUTION, "line 2", "n99999999", MAPPING],
    ),
    "solution-two-classes": (
        _row(lambda image, boxes: f"{image},{boxes} n99999999 1 2 3 4"),
        [VAL_SOLUTION, "line 2", "two classes"],
    ),
    "solution-short-row": (_row(lambda image, _: f"{image},n01440764 1 2"), [VAL_SOLUTION, "line 2", "1 2'"]),
    "solution-bad-coordinate": (
        _row(lambda image, boxes: f"{image},{boxes.split()[0]} 1 x 3 4"),
        [VAL_SOLUTION, "line 2", "'x'", "not a number"],
    ),
    "solution-bad-id": (_row(lambda _, boxes: f"val_1,{boxes}"), [VAL_SOLUTION, "line 2", "'val_1,"]),
    "solution-no-header": (
        _edit_lines(VAL_SOLUTION, lambda lines: lines[1:]),
        [VAL_SOLUTION, "line 1", "header"],
    ),
    "solution-not-utf8": (
        lambda f: damage.rewrite(f / VAL_SOLUTION, (f / VAL_SOLUTION).read_bytes() + b"\xff\n"),
        [VAL_SOLUTION, "line 8", "not UTF-8"],
    ),
    "mapping-wnid-twice": (
        _edit_lines(MAPPING, lambda lines: [*lines, lines[0]]),
        [MAPPING, "line 4", "again", "line 1"],
    ),
    "mapping-malformed": (
        _edit_lines(MAPPING, lambda lines: [*lines, "n0144"]),
        [MAPPING, "line 4", "'n0144'"],
    ),
    "mapping-empty": (lambda f: damage.rewrite(f / MAPPING, b""), [MAPPING, "no classes"]),
}


@pytest.mark.parametrize("case", sorted(KAGGLE_CASES))
def test_kaggle_csv_and_mapping_are_checked_as_a_whole(case: str, small_layout, tmp_path: Path) -> None:
    spoil, fragments = KAGGLE_CASES[case]
    folder = copy_of(small_layout, "kaggle-tree", tmp_path)
    spoil(folder)
    with untouched(tmp_path):
        message = refused(folder, tmp_path / "out", "--skip-bad-images")  # not a bad image: no skipping
    for fragment in fragments:
        assert fragment in message, message


def test_one_image_under_two_names_is_an_error(small_layout, tmp_path: Path) -> None:
    """Names that collide once case is folded: a ZIP holds both, a case-insensitive disk would not."""
    folder = copy_of(small_layout, "kaggle-tree", tmp_path)
    image = folder / "ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000003.JPEG"
    os.link(image, image.with_suffix(".jpeg"))
    with untouched(tmp_path):
        message = refused(folder, tmp_path / "out")
    assert f"{image.name} and {image.with_suffix('.jpeg').name} are one image under two names" in message


# --- --skip-bad-images keeps its promise in every split and layout -------------------------------------

VAL_FOLDERS = {
    "extracted": "val",
    "valprep": "validation/*",
    "kaggle-tree": "ILSVRC/Data/CLS-LOC/val",
    "kaggle-zip": "ILSVRC/Data/CLS-LOC/val",
}
EMPTIED = "ILSVRC2012_val_00000003.JPEG"
"""The validation image made empty: in the middle, so a label taken from the wrong line would show."""


def validation_image(folder: Path, layout: str, name: str) -> Path:
    return next(folder.glob(f"{VAL_FOLDERS[layout]}/{name}"))


def _empty_zip_member(folder: Path, name: str) -> None:
    archive = folder / KAGGLE_ZIP
    entries = damage.zip_entries(archive)
    archive.unlink()
    damage.write_zip(
        archive, [e._replace(raw=b"", crc=0, size=0) if e.name.endswith(name) else e for e in entries]
    )


@pytest.mark.parametrize("layout", sorted(VAL_FOLDERS))
def test_a_bad_validation_image_is_left_out_and_the_others_keep_their_labels(
    layout: str, small_layout, tmp_path: Path
) -> None:
    folder = copy_of(small_layout, layout, tmp_path)
    if layout == "kaggle-zip":
        _empty_zip_member(folder, EMPTIED)
    else:
        damage.rewrite(validation_image(folder, layout, EMPTIED), b"")
    with untouched(tmp_path):
        message = refused(folder, tmp_path / "out")
        assert EMPTIED in message and "zero-byte" in message and "--skip-bad-images" in message
        plan, _ = plan_here(folder, "--skip-bad-images")
    assert [s["problem"] for s in plan.skipped] == ["an empty (zero-byte) image file"]
    assert plan.skipped[0]["image"].endswith(f"/{EMPTIED}")
    wanted = expected_labels(folder, "validation")
    del wanted[EMPTIED]
    assert labels(plan, "validation") == wanted
    assert labels(plan, "train") == expected_labels(folder, "train")


# --- files a folder scan must not open, names that are not UTF-8 -----------------------------------


def _class_folder(folder: Path) -> Path:
    return sorted(p for p in (folder / "train").iterdir() if p.is_dir())[0]


def _socket(path: Path) -> None:
    """A socket file, bound by its short name (a socket's path is limited to 107 bytes)."""
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        with closing(socket.socket(socket.AF_UNIX)) as listening:
            listening.bind(path.name)
    finally:
        os.chdir(here)


SPECIAL = {
    # name: (spoil the class folder, what the message says the file is)
    "socket": (lambda d: _socket(d / f"{d.name}_7.xml"), "a socket, not a regular file"),
    "device": (lambda d: (d / f"{d.name}_7.JPEG").symlink_to("/dev/zero"), "a character device"),
    "not-utf8": (
        lambda d: (Path(os.fsdecode(bytes(d) + b"/caf\xe9.JPEG"))).write_bytes(b"x"),
        "unknown file",
    ),
    "newline": (lambda d: (d / f"{d.name}_7\n.JPEG").write_bytes(b"x"), "unknown file"),
}


@pytest.mark.parametrize("case", sorted(SPECIAL))
def test_special_files_and_odd_names_stop_or_are_skipped_and_listed(
    case: str, small_layout, tmp_path: Path
) -> None:
    spoil, problem = SPECIAL[case]
    folder = copy_of(small_layout, "extracted", tmp_path)
    class_folder = _class_folder(folder)
    spoil(class_folder)
    with untouched(tmp_path):
        message = refused(folder, tmp_path / "out")
        plan, _ = plan_here(folder, "--skip-bad-images")
    (listed,) = plan.skipped
    assert message.startswith(listed["image"]) and problem in message and problem in listed["problem"]
    assert listed["image"].startswith(f"train/{class_folder.name}/") or listed["image"].startswith(
        f"'train/{class_folder.name}/"
    )
    if case in ("not-utf8", "newline"):  # the name's bytes, quoted: one printable line
        assert {"not-utf8": "caf\\xe9", "newline": "_7\\n.JPEG"}[case] in listed["image"]
    assert labels(plan, "train") == expected_labels(folder, "train")


def test_links_out_of_the_input_are_followed_and_listed(small_layout, tmp_path: Path) -> None:
    folder = copy_of(small_layout, "extracted", tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    image = next(_class_folder(folder).glob("*.JPEG"))
    os.link(image, elsewhere / image.name)
    image.unlink()
    image.symlink_to(elsewhere / image.name)
    (folder / "inside.txt").symlink_to("expected.json")  # a link within the input is not listed
    (folder / "a").symlink_to(
        "val"
    )  # nor followed to a folder: val/ is listed as val/, though "a" sorts first
    with untouched(tmp_path):
        message = refused(folder, tmp_path / "out")
        plan, _ = plan_here(folder, "--skip-bad-images")
    assert message.startswith("a: a symbolic link to a folder inside the input")
    assert plan.counts["links_outside_input"] == 1
    assert plan.links == [{"link": str(image.relative_to(folder)), "target": str(elsewhere / image.name)}]
    assert labels(plan, "train") == expected_labels(folder, "train")
    assert labels(plan, "validation") == expected_labels(folder, "validation")


NEEDED = {
    # layout: (the needed file spoilt, how, what the message says it is)
    "kaggle-tree": ("LOC_val_solution.csv", os.mkfifo, "a FIFO (named pipe)"),
    "official": (
        "ILSVRC2012_img_train.tar",
        lambda path: path.symlink_to("nowhere"),
        "a broken symbolic link",
    ),
}


@pytest.mark.parametrize("layout", sorted(NEEDED))
def test_a_needed_file_that_is_no_file_is_named_as_such_not_missing(
    layout: str, small_layout, tmp_path: Path
) -> None:
    name, spoil, problem = NEEDED[layout]
    folder = copy_of(small_layout, layout, tmp_path)
    (folder / name).unlink()
    spoil(folder / name)
    with untouched(tmp_path):
        message = refused(folder, tmp_path / "out")
    assert message.startswith(f"{name}: {problem}") and "missing" not in message, message


def test_a_folder_named_like_the_zip_is_read_as_a_folder(small_layout, tmp_path: Path) -> None:
    folder = damage.clone_tree(
        small_layout("kaggle-tree"), tmp_path / "imagenet-object-localization-challenge.zip"
    )
    assert labels(plan_here(folder)[0], "validation") == expected_labels(folder, "validation")
