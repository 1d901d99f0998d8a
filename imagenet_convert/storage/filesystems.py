"""Beam's ``FileSystems`` set up for the user's stores, with our fixes of its S3 and GCS clients.

Every process that reads or writes through ``FileSystems`` calls :func:`configure` first: the launcher
when it parses its options, and each Beam worker in its ``setup`` (workers share nothing with it).
"""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from imagenet_convert.storage import gcs, s3


def configure(options: PipelineOptions) -> None:
    """Beam's filesystem options (endpoints, credentials) for this process, its S3 clients shared and
    its GCS clients anonymous against an emulator (see ``s3.py``, ``gcs.py``)."""
    s3.share_boto3_clients()
    gcs.anonymous_with_emulator()
    FileSystems.set_options(options)
