"""``--check-archives INPUT_DIR``: the downloads against the official ILSVRC2012 sizes and md5 sums, and
for the other layouts, whether the input is still what was converted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from apache_beam.io.filesystems import FileSystems

from imagenet_convert.format.filenames import SPLITS
from imagenet_convert.inputs.archives import ArchiveError
from imagenet_convert.inputs.layouts import LAYOUTS
from imagenet_convert.inputs.layouts.official import ARCHIVES
from imagenet_convert.inputs.layouts.tree import Tree, list_folder
from imagenet_convert.verify.metadata import VerifyError, require_folder
from imagenet_convert.verify.reading import CHUNK, open_file, progress_bar
from imagenet_convert.verify.report import Problems

OFFICIAL: dict[str, tuple[int | None, str | None]] = {
    ARCHIVES["train"]: (147_897_477_120, "1d675b47d978889d74fa0da5fadfb00e"),
    ARCHIVES["validation"]: (6_744_924_160, "29b22e2961454d5413ddabcf34fc5622"),
    ARCHIVES["devkit"]: (None, "fa75699e90414af021442c21a62c3abf"),
    ARCHIVES["train_boxes"]: (None, None),
    ARCHIVES["validation_boxes"]: (None, None),
}
"""(size, md5) of the real downloads (docs/ilsvrc2012.md, 1. The downloads); None where none is published."""


def _md5(paths: dict[str, tuple[str, int]]) -> dict[str, str]:
    digests = {}
    with progress_bar(sum(size for _, size in paths.values()), "md5 archives") as bar:
        for name, (path, _) in paths.items():
            digest = hashlib.md5(usedforsecurity=False)
            with open_file(path) as stream:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    bar.update(len(chunk))
            digests[name] = digest.hexdigest()
    return digests


@dataclass(frozen=True)
class InputFolder:
    """``INPUT_DIR`` listed once, as ``run`` lists its --input, and the layout it was converted from."""

    tree: Tree
    layout: str

    @property
    def archives(self) -> dict[str, tuple[str, int]]:
        """{name: (path, size)} of the downloads at its top that carry an official name."""
        return {
            name: (FileSystems.join(self.tree.root, name), self.tree.files[name])
            for name in OFFICIAL
            if name in self.tree.files
        }


def find_archives(input_dir: str, layout: str = "official", output: str | None = None) -> InputFolder:
    """List ``input_dir`` (before the hours of shard checks: a wrong folder is said at once), without
    the ``output`` folder, should it be inside, as ``run`` lists its --input.

    Only the official layout must hold some archives: the other layouts may hold none."""
    require_folder(input_dir)
    try:
        folder = InputFolder(list_folder(input_dir, exclude=output), layout)
    except ArchiveError as exc:
        raise VerifyError(f"{input_dir}: cannot list the archive folder ({exc})") from None
    if not folder.archives and layout == "official":
        raise VerifyError(f"{input_dir}: holds none of {', '.join(OFFICIAL)} under their official names")
    return folder


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
    folder: InputFolder, inputs: dict[str, Any], splits: tuple[str, ...], problems: Problems
) -> list[str]:
    """Layouts other than the official one: their folders and files have no official checksum, so
    say so, and compare them with what was converted (the layout's inputs, as ``run`` found them)."""
    layout = folder.layout
    try:
        now = LAYOUTS[layout](folder.tree).inputs(splits)
    except ArchiveError as exc:
        problems.add(folder.tree.root, f"cannot be read as the {layout} layout it was converted from ({exc})")
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
    folder: InputFolder, inputs: dict[str, Any], problems: Problems, splits: tuple[str, ...] = SPLITS
) -> list[str]:
    """Compare the downloads with the official files; a size that differs needs no hashing to tell."""
    files = folder.archives
    hashable = {
        name: entry
        for name, entry in files.items()
        if OFFICIAL[name][1] and OFFICIAL[name][0] in (None, entry[1])
    }
    digests = _md5(hashable)
    lines = []
    for name in OFFICIAL:
        if name not in files:
            if folder.layout == "official":
                lines.append(f"{name}: not in {folder.tree.root}")
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
    if folder.layout != "official":
        lines += check_layout_inputs(folder, inputs, splits, problems)
    return lines
