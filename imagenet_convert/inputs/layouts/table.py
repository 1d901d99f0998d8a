"""A split's images as columns sorted by name: what a catalogue holds for each split.

At full cardinality a dict of (WNID, Locator) tuples per image took ~385 bytes an image (500 MB
for 1.33 M images, kept by Python's allocator after they were freed); these columns take ~50,
and numpy hands their memory back when the plan is saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from imagenet_convert.errors import shown
from imagenet_convert.inputs.archives import LayoutError
from imagenet_convert.inputs.layouts.locators import Locator

COLUMNS = (bytes, np.uint16, np.uint32, np.int64, np.int64, bool)
"""The dtypes of names, classes, files, offsets, sizes and zipped flags."""
Row = tuple[str, str, Locator]
"""(image name, WNID, locator): one image as a layout finds it."""


@dataclass(frozen=True)
class ImageTable:
    """Row ``i`` is the ``i``-th image in name order (names are unique)."""

    names: np.ndarray
    """UTF-8 names (``S`` dtype): byte order is code point order, so sorted as Python sorts str."""
    wnids: tuple[str, ...]
    classes: np.ndarray
    """Index into ``wnids`` per row."""
    files: tuple[str, ...]
    file: np.ndarray
    """Index into ``files`` per row: the locator's path."""
    offset: np.ndarray
    size: np.ndarray
    zipped: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def find_many(self, names: list[str]) -> np.ndarray:
        """The rows of the images called ``names``, -1 where there is none, in one search: one
        search per name let the launcher's reading threads take the GIL each time (~40 us a name)."""
        keys = np.array([name.encode() for name in names], bytes)
        rows = np.searchsorted(self.names, keys)
        inside = rows < len(self.names)
        found = np.zeros(len(keys), bool)
        found[inside] = self.names[rows[inside]] == keys[inside]
        return np.where(found, rows, -1)

    def wnid(self, row: int) -> str:
        return self.wnids[self.classes[row]]

    def found_wnids(self) -> set[str]:
        return {self.wnids[index] for index in np.unique(self.classes).tolist()}

    def rows(self, rows: np.ndarray) -> Iterator[Row]:
        """The rows' (name, WNID, locator), made only now (Python objects cost ~8 times the columns)."""
        columns = zip(
            self.names[rows].tolist(),
            self.classes[rows].tolist(),
            self.file[rows].tolist(),
            self.offset[rows].tolist(),
            self.size[rows].tolist(),
            self.zipped[rows].tolist(),
            strict=True,
        )
        for name, wnid, file, offset, size, zipped in columns:
            yield name.decode(), self.wnids[wnid], Locator(self.files[file], offset, size, zipped)


class TableBuilder:
    """Collects rows in groups (a class's images, a folder's) and sorts them once at the end."""

    def __init__(self, source: str):
        self._source = source
        self._wnids: dict[str, int] = {}
        self._files: dict[str, int] = {}
        self._chunks: list[tuple[np.ndarray, ...]] = []

    def extend(self, rows: Iterable[Row]) -> None:
        """Add a group of rows; two names of one image in the group (``x.JPEG`` and ``x.jpeg``, say: names
        that collide once case is folded, or a converted copy kept beside its original) are an error."""
        found = list(rows)
        if not found:
            return
        names, wnids, locators = zip(*found, strict=True)
        stems: dict[str, str] = {}
        for name in names:
            other = stems.setdefault(name.rsplit(".", 1)[0], name)
            if other != name:
                raise LayoutError(
                    f"{self._source}: {shown(other)} and {shown(name)} are one image under two names; keep "
                    "one of them"
                )
        paths, offsets, sizes, zipped = zip(*locators, strict=True)
        columns = (
            [name.encode() for name in names],
            [self._wnids.setdefault(wnid, len(self._wnids)) for wnid in wnids],
            [self._files.setdefault(path, len(self._files)) for path in paths],
            offsets,
            sizes,
            zipped,
        )
        self._chunks.append(tuple(np.array(c, dtype) for c, dtype in zip(columns, COLUMNS, strict=True)))

    def table(self) -> ImageTable:
        """The rows in name order; a name seen twice is an error naming both places."""
        chunks = self._chunks or [tuple(np.array([], dtype) for dtype in COLUMNS)]
        columns = [np.concatenate(column) for column in zip(*chunks, strict=True)]
        self._chunks = []
        order = np.argsort(columns[0], kind="stable")
        names, classes, file, offset, size, zipped = (column[order] for column in columns)
        twice = np.flatnonzero(names[1:] == names[:-1])
        wnids, files = tuple(self._wnids), tuple(self._files)
        if len(twice):
            row = int(twice[0])
            name, places = names[row].decode(), (wnids[classes[row]], wnids[classes[row + 1]])
            raise LayoutError(
                f"{self._source}: image name {name!r} appears twice (classes {' and '.join(places)})"
            )
        return ImageTable(names, wnids, classes, files, file, offset, size, zipped)


def image_table(source: str, rows: Iterable[Row]) -> ImageTable:
    """A table of ``rows`` at once (a validation split's 50,000 images)."""
    builder = TableBuilder(source)
    builder.extend(rows)
    return builder.table()
