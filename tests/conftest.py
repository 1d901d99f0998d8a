"""Shared fixtures. ``mini_imagenet`` is generated once per session: every test reads, none writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagenet_convert.fake import FakeOptions, generate

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
