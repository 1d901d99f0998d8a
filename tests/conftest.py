"""Shared fixtures, each made once per session: every test reads them, none writes.

``mini_imagenet`` is the default miniature download, ``converted`` its conversion by the real CLI
(four train shards, two validation shards), which every reader's tests share; ``big_imagenet`` and
``big_local_output`` serve the object-store tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from imagenet_convert.fake import FakeOptions, generate
from tests.support.buckets import BIG, archive_bytes
from tests.support.cli import convert_once

MINI_OPTIONS = FakeOptions()
"""The default test miniature: 10 classes, 20-30 train and 5 validation images each, every quirk."""
SMALL_OPTIONS = FakeOptions(classes=3, train_per_class=(6, 8), val_images=6, min_side=64, max_side=128)
"""A small miniature (3 classes, every image quirk, small images): for copies damaged one way each."""


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
def small_imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small miniature (3 classes, every image quirk, small images): for copies damaged one way each."""
    folder = tmp_path_factory.mktemp("small_imagenet")
    generate(folder, SMALL_OPTIONS)
    return folder


@pytest.fixture(scope="session")
def mini_expected(mini_imagenet: Path) -> dict[str, Any]:
    """``expected.json`` of ``mini_imagenet``."""
    return load_expected(mini_imagenet)


@pytest.fixture(scope="session")
def converted(mini_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mini_imagenet`` converted with two workers: shards, index files and all metadata."""
    return convert_once(mini_imagenet, tmp_path_factory, "converted")


@pytest.fixture(scope="session")
def big_imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Over 64 MiB of archives (``tests.support.buckets.BIG``): what Beam's object-store readers would
    over-fetch."""
    folder = tmp_path_factory.mktemp("big_imagenet")
    generate(folder, BIG)
    assert archive_bytes(folder) > 64 << 20
    return folder


@pytest.fixture(scope="session")
def big_local_output(big_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``big_imagenet`` converted locally: what every object-store run must reproduce byte for byte."""
    return convert_once(big_imagenet, tmp_path_factory, "big_local")


def _in_layouts(
    options: FakeOptions, official: Path, tmp_path_factory: pytest.TempPathFactory, prefix: str
) -> Callable[[str], Path]:
    """``make(name)``: the miniature of ``options`` in that input layout (the same images), made once."""
    made = {"official": official}

    def make(layout: str) -> Path:
        if layout not in made:
            folder = tmp_path_factory.mktemp(f"{prefix}_{layout}")
            generate(folder, replace(options, layout=layout))
            made[layout] = folder
        return made[layout]

    return make


@pytest.fixture(scope="session")
def mini_layout(mini_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``mini_layout(name)``: the default miniature in that input layout (the same images), made once."""
    return _in_layouts(MINI_OPTIONS, mini_imagenet, tmp_path_factory, "mini")


@pytest.fixture(scope="session")
def small_layout(small_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``small_layout(name)``: ``small_imagenet`` in that input layout, made once."""
    return _in_layouts(SMALL_OPTIONS, small_imagenet, tmp_path_factory, "small")
