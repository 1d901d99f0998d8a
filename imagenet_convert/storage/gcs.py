"""GCS access for 1.3 M images: exact ranged reads, and no credential look-up against an emulator.

Two things in Beam's GCS filesystem (apache-beam 2.77) are fixed here:

* its reader (google-cloud-storage's ``BlobReader``) fetches at least 16 MiB per read and drops the
  buffer when the reader seeks outside it: one 110 KB image per seek would fetch the archive many
  times over. :func:`open_ranged` asks for exactly the bytes of each read
  (:mod:`imagenet_convert.storage.ranged`).
* every process looks up Google credentials once, retrying for about half a minute when there are
  none. With ``STORAGE_EMULATOR_HOST`` set, the client library sends every request to that emulator,
  which takes anonymous requests: importing this module then makes Beam skip the look-up.
"""

from __future__ import annotations

import errno
import os
from typing import Any, BinaryIO

from apache_beam.options.pipeline_options import PipelineOptions

from imagenet_convert.storage import ranged

EMULATOR = "STORAGE_EMULATOR_HOST"


def anonymous_with_emulator() -> None:
    """Make Beam's GCS clients anonymous while an emulator is configured (``filesystems.configure``)."""
    try:
        from apache_beam.io.gcp import gcsio
    except ImportError:  # no gcp extra: leave Beam's own error message alone
        return
    original = getattr(gcsio.create_storage_client, "beam_factory", gcsio.create_storage_client)

    def create_storage_client(pipeline_options: PipelineOptions, use_credentials: bool = True) -> Any:
        return original(pipeline_options, use_credentials and not os.environ.get(EMULATOR))

    create_storage_client.beam_factory = original  # type: ignore[attr-defined]
    gcsio.create_storage_client = create_storage_client


def open_ranged(path: str, options: PipelineOptions | None) -> BinaryIO:
    """A seekable stream over ``gs://bucket/name`` made of exact ranged GETs (the library retries them)."""
    from apache_beam.io.gcp import gcsio

    bucket, name = gcsio.parse_gcs_path(path)
    blob = gcsio.create_storage_client(options or PipelineOptions()).bucket(bucket).get_blob(name)
    if blob is None:
        raise FileNotFoundError(errno.ENOENT, f"not found: {path}")

    def fetch(start: int, end: int) -> bytes:
        # raw: the archive's bytes as stored; no checksum: a range has none to check against.
        return blob.download_as_bytes(start=start, end=end - 1, raw_download=True, checksum=None)

    return ranged.open_exact(blob.size, fetch)
