"""Reading a shard or a download whole, once, through Beam's filesystems, with a byte progress bar."""

from __future__ import annotations

from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from tqdm import tqdm

CHUNK = 8 << 20


def open_file(path: str) -> BinaryIO:
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def progress_bar(total: int, desc: str) -> tqdm:
    """A byte progress bar with rate and ETA (silent when stderr is not a terminal)."""
    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=None)
