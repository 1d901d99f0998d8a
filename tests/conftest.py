"""Shared fixtures, each made once per session: every test reads them, none writes.

``mini_imagenet`` is the default miniature download, ``converted`` its conversion by the real CLI
(four train shards, two validation shards), which every reader's tests share.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagenet_convert.fake import FakeOptions, generate
from tests.cli import convert_once

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
def converted(mini_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mini_imagenet`` converted with two workers: shards, index files and all metadata."""
    return convert_once(mini_imagenet, tmp_path_factory, "converted")
