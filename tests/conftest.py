"""Shared fixtures, generated once per session: every test reads them, none writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagenet_convert.fake import FakeOptions, generate
from tests.buckets import BIG, archive_bytes
from tests.cli import convert

MINI_OPTIONS = FakeOptions()
"""The default test miniature: 10 classes, 20-30 train and 5 validation images each, every quirk."""


def load_expected(folder: Path) -> dict[str, Any]:
    """The ``expected.json`` the generator wrote beside a miniature's archives."""
    return json.loads((folder / "expected.json").read_text())


@pytest.fixture(scope="session")
def mini_imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding the default miniature ILSVRC2012 download (archives + expected.json)."""
    folder = tmp_path_factory.mktemp("mini_imagenet")
    generate(folder, MINI_OPTIONS)
    return folder


@pytest.fixture(scope="session")
def mini_expected(mini_imagenet: Path) -> dict[str, Any]:
    """``expected.json`` of ``mini_imagenet``."""
    return load_expected(mini_imagenet)


@pytest.fixture(scope="session")
def converted_mini(mini_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mini_imagenet`` converted by the real CLI (2 workers, 4 train and 2 validation shards); read only."""
    out = tmp_path_factory.mktemp("converted")
    result = convert(mini_imagenet, out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def big_imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Over 64 MiB of archives (``tests.buckets.BIG``): what Beam's object-store readers would over-fetch."""
    folder = tmp_path_factory.mktemp("big_imagenet")
    generate(folder, BIG)
    assert archive_bytes(folder) > 64 << 20
    return folder


@pytest.fixture(scope="session")
def big_local_output(big_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``big_imagenet`` converted locally: what every object-store run must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("big_local")
    result = convert(big_imagenet, out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    return out
