"""The output folder: final files, and the hidden work folder that makes runs atomic and resumable.

Everything goes through Beam's ``FileSystems``, so the same code publishes to a local folder,
``gs://`` or ``s3://``. A file becomes visible under its final name only by a rename (a copy
and delete on object stores, as Beam's own file sinks do) after it was completely written.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from imagenet_convert.format import filenames
from imagenet_convert.storage.direct_file import DirectFile
from imagenet_convert.storage.paths import is_local


class OutputDir:
    """Paths and atomic writes under one output folder."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") if not is_local(root) else root.rstrip("/") or "/"

    def path(self, *parts: str) -> str:
        """A path under the folder; ``parts`` may be ``filenames``'s slash-separated names."""
        return FileSystems.join(self.root, *parts)

    def exists(self, path: str) -> bool:
        return FileSystems.exists(path)

    def read_bytes(self, path: str) -> bytes:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            return stream.read()

    def read_json(self, path: str) -> Any:
        return json.loads(self.read_bytes(path))

    def temporary(self, name: str) -> str:
        """A fresh name in the hidden temp folder (never matched by Slim's ``train-*``)."""
        return self.path(filenames.tmp(f"{name}.{uuid.uuid4().hex}.tmp"))

    def publish(self, temporary: str, final: str) -> None:
        """Move a completely written file to its final name (replacing an older one atomically)."""
        if is_local(final):  # object stores have no folders to create
            os.makedirs(os.path.dirname(final) or ".", exist_ok=True)
        FileSystems.rename([temporary], [final])

    @contextlib.contextmanager
    def removed_on_failure(self, temporary: str) -> Iterator[None]:
        """A file that failed half-way is deleted at once: on a full disk its bytes are what the
        error line and the other workers need."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.delete([temporary])
            raise

    @contextlib.contextmanager
    def atomic(self, final: str, direct: bool = False) -> Iterator[BinaryIO | DirectFile]:
        """A stream whose bytes appear under ``final`` only once it is closed without an error.

        ``direct``: a local file is written around the page cache (``direct_file``), for large
        files the run does not read back.
        """
        temporary = self.temporary(final.rsplit("/", 1)[-1])
        with self.removed_on_failure(temporary), self._create(temporary, direct) as stream:
            yield stream
        self.publish(temporary, final)

    @staticmethod
    def _create(path: str, direct: bool) -> BinaryIO | DirectFile:
        if direct and is_local(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            return DirectFile(path)
        return FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)

    def write_atomic(self, final: str, data: bytes) -> None:
        with self.atomic(final) as stream:
            stream.write(data)

    def write_json(self, final: str, value: Any) -> None:
        self.write_atomic(final, json_bytes(value))

    def sizes(self, pattern: str) -> dict[str, int]:
        """{path: size} of the files matching a glob (empty when none)."""
        result = FileSystems.match([pattern])[0]
        return {meta.path: meta.size_in_bytes for meta in result.metadata_list}

    def delete(self, paths: list[str]) -> None:
        present = [path for path in paths if FileSystems.exists(path)]
        if present:
            FileSystems.delete(present)


def absolute(path: str) -> str:
    """A local path made absolute (for processes with another working folder); URLs unchanged."""
    return os.path.abspath(path) if is_local(path) else path


def json_bytes(value: Any, compact: bool = False) -> bytes:
    """Canonical JSON: sorted keys, so equal content gives equal bytes.

    ``compact`` output is for machine-only files: without indentation ``json`` uses its C encoder,
    four times faster on the 1.3 million entries of a full plan.
    """
    if compact:
        return (json.dumps(value, sort_keys=True, separators=(",", ":")) + "\n").encode()
    return (json.dumps(value, sort_keys=True, indent=1) + "\n").encode()
