"""S3 access that scales to 1.3 M images: exact ranged reads and one boto3 client per process.

Two things in Beam's S3 filesystem (apache-beam 2.77) are fixed here:

* its reader asks for ``Range: bytes=START-`` (to the end of the object) and drops the connection when
  the reader seeks elsewhere; by then the server has sent megabytes nobody reads. Reading one image
  per seek that way fetched 22 times the archive (measured). :func:`open_ranged` asks for exactly
  ``bytes=START-END`` on every read (:mod:`imagenet_convert.storage.ranged`).
* it builds a new boto3 session for every call (``exists``, ``open``, ``rename``, ``match``...), which
  parses botocore's JSON models again: about 0.3 s of CPU per call, minutes for the launcher's
  thousands of plan and marker files. Importing this module makes those calls share one thread-safe
  boto3 client per process and settings (each Beam client wrapper keeps its own download state).
"""

from __future__ import annotations

import errno
import functools
import time
from typing import Any, BinaryIO

from apache_beam.options.pipeline_options import PipelineOptions, S3Options

from imagenet_convert.storage import ranged

SETTINGS = (
    "s3_access_key_id", "s3_secret_access_key", "s3_session_token", "s3_endpoint_url",
    "s3_region_name", "s3_api_version", "s3_verify", "s3_disable_ssl",
)  # fmt: skip
"""The S3Options that configure a client."""
READ_ATTEMPTS = 3


def settings(options: PipelineOptions | dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """The client settings in ``options`` (PipelineOptions or the dict form Beam also accepts), hashable."""
    if isinstance(options, PipelineOptions):
        view = options.view_as(S3Options)
        return tuple((name, getattr(view, name)) for name in SETTINGS)
    return tuple((name, (options or {}).get(name)) for name in SETTINGS)


def _beam_client() -> Any:
    """Beam's own S3 client wrapper class, whether or not :func:`share_boto3_clients` replaced it."""
    from apache_beam.io.aws.clients.s3 import boto3_client

    return getattr(boto3_client.Client, "beam_client", boto3_client.Client)


@functools.cache
def _template(key: tuple[tuple[str, Any], ...]) -> Any:
    """A never-used Beam client wrapper per settings: its boto3 client is shared by all later wrappers."""
    return _beam_client()(options=dict(key))


def client(options: PipelineOptions | dict[str, Any] | None) -> Any:
    """This process's boto3 S3 client for ``options``."""
    return _template(settings(options)).client


def share_boto3_clients() -> None:
    """Make Beam's S3 client wrapper reuse :func:`client` (called by ``storage.filesystems``)."""
    from apache_beam.io.aws.clients.s3 import boto3_client

    original = _beam_client()
    if boto3_client.boto3 is None:  # no aws extra: leave Beam's own error message alone
        return

    class SharedClient(original):  # type: ignore[misc, valid-type]
        beam_client = original

        def __init__(self, options: PipelineOptions | dict[str, Any]):  # no super(): no new session
            self.__dict__.update(_template(settings(options)).__dict__)

    boto3_client.Client = SharedClient


def open_ranged(path: str, options: PipelineOptions | None) -> BinaryIO:
    """A seekable stream over ``s3://bucket/key`` made of exact ranged GETs (see :mod:`.ranged`)."""
    from apache_beam.io.aws.s3io import parse_s3_path
    from botocore.exceptions import BotoCoreError, ClientError

    boto3_s3 = client(options)
    bucket, key = parse_s3_path(path)
    try:
        size = boto3_s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            raise FileNotFoundError(errno.ENOENT, f"not found: {path}") from None
        raise

    def fetch(start: int, end: int) -> bytes:
        """botocore retries failed requests; this retries cut-off bodies."""
        for attempt in range(READ_ATTEMPTS):
            try:
                response = boto3_s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")
                return response["Body"].read()
            except BotoCoreError:
                if attempt == READ_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    return ranged.open_exact(size, fetch)
