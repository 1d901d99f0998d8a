"""Local folder or object store: the one test every module asks of a path."""

from __future__ import annotations


def is_local(path: str) -> bool:
    """A path of this machine's file system; ``gs://``, ``s3://`` and other stores have a scheme."""
    return "://" not in path
