"""Input layouts: every way users hold ILSVRC2012, one module each, all giving the same catalogue.

A new layout is one module with a :class:`Layout` subclass, added to :data:`LAYOUTS` (most
specific first: detection takes the first that matches).
"""

from __future__ import annotations

import os

from imagenet_convert.errors import UsageError, shown
from imagenet_convert.inputs.archives import LayoutError
from imagenet_convert.inputs.layouts.catalogue import Catalogue, Layout
from imagenet_convert.inputs.layouts.extracted import Extracted
from imagenet_convert.inputs.layouts.kaggle import KaggleTree, KaggleZip
from imagenet_convert.inputs.layouts.official import Official
from imagenet_convert.inputs.layouts.tree import Tree, file_size, list_folder, special_file
from imagenet_convert.inputs.layouts.valprep import Valprep

__all__ = ["LAYOUTS", "Catalogue", "Layout", "LayoutError", "NoInputError", "open_layout"]

LAYOUTS: dict[str, type[Layout]] = {
    layout.name: layout for layout in (KaggleZip, KaggleTree, Valprep, Extracted, Official)
}


class NoInputError(LayoutError, UsageError):
    """``--input`` names nothing a layout reads (no such file or folder, an empty one, or none of the
    accepted layouts): a usage error, where a layout's missing or damaged parts are the input's."""


def _nothing_matches(tree: Tree) -> NoInputError:
    if not tree.files and not tree.broken:
        return NoInputError(
            f"{shown(tree.root)}: no such folder, or it is empty; point --input at the folder holding the "
            "ILSVRC2012 downloads (or the Kaggle ZIP)"
        )
    top = sorted({shown(path.split("/", 1)[0]) + ("/" if "/" in path else "") for path in tree.files})
    found = ", ".join(top[:8]) + (" ..." if len(top) > 8 else "")
    accepted = "; ".join(f"{name}: {layout.key_files}" for name, layout in LAYOUTS.items())
    return NoInputError(
        f"{shown(tree.root)}: no accepted layout matches (found: {found}); accepted layouts and their key "
        f"files: {accepted}. Files must keep their official names"
    )


def _one_file(path: str) -> Tree:
    """A tree holding just the file ``path`` (Kaggle's ZIP given as --input), rooted at its folder."""
    root, _, name = path.rstrip("/").rpartition("/")
    tree = Tree(root or ".")
    special = special_file(path)
    if special:
        raise NoInputError(f"{shown(path)}: {special}; --input takes a folder or the Kaggle ZIP itself")
    size = file_size(path)
    if size is None:
        raise NoInputError(f"{shown(path)}: no such file")
    tree.add(name, size)
    return tree


def open_layout(
    path: str,
    forced: str | None = None,
    skip_bad: bool = False,
    validation_labels: str | None = None,
    output: str | None = None,
) -> Layout:
    """The layout of ``--input`` (detected, or ``forced`` by --layout), with its listing; an
    ``--output`` inside the input folder is not part of it."""
    one_zip = path.endswith(".zip") and not os.path.isdir(path)  # a folder may be named like the ZIP
    tree = _one_file(path) if one_zip else list_folder(path, exclude=output)
    if forced:
        chosen = LAYOUTS[forced]
    else:
        chosen = next((layout for layout in LAYOUTS.values() if layout.detect(tree)), None)
        if chosen is None:
            raise _nothing_matches(tree)
    return chosen(tree, skip_bad=skip_bad, validation_labels=validation_labels)
