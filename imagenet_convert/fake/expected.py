"""``expected.json``: what a correct conversion of the miniature must produce (docs/design.md).

It is streamed image by image: at full cardinality (1.33M images) the whole dictionary would take
gigabytes of memory. The result is one ordinary JSON document with one image per line.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any


class ExpectedWriter:
    """Writes ``{"generator", "classes", "images": {split: {name: entry}}, "xml_quirks"}`` in that order."""

    def __init__(self, path: Path, generator: dict[str, Any], classes: list[dict[str, Any]]) -> None:
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by __exit__
        self._file.write(f'{{"generator": {json.dumps(generator)},\n"classes": {json.dumps(classes)},\n')
        self._file.write('"images": {')
        self._separator = ""

    def split(self, name: str) -> None:
        """Start the image object of split ``name`` (closing the previous one)."""
        self._file.write(f"{self._separator}\n{json.dumps(name)}: {{")
        self._separator = "\n}, "
        self._entry_separator = "\n"

    def add(self, image_name: str, entry: dict[str, Any]) -> None:
        """One image's entry in the current split."""
        self._file.write(f"{self._entry_separator}{json.dumps(image_name)}: {json.dumps(entry)}")
        self._entry_separator = ",\n"

    def finish(self, xml_quirks: dict[str, list[str]]) -> None:
        """Close the images and write the XML quirk index."""
        self._file.write(f'\n}}}},\n"xml_quirks": {json.dumps(xml_quirks, indent=1)}\n}}\n')

    def __enter__(self) -> ExpectedWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._file.close()
