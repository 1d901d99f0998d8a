"""Shared fixtures. ``mini_imagenet`` is generated once per session: every test reads, none writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
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


@pytest.fixture(scope="session")
def mini_layout(mini_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``mini_layout(name)``: the default miniature in that input layout (the same images), made once."""
    made = {"official": mini_imagenet}

    def make(layout: str) -> Path:
        if layout not in made:
            folder = tmp_path_factory.mktemp(f"mini_{layout}")
            generate(folder, replace(MINI_OPTIONS, layout=layout))
            made[layout] = folder
        return made[layout]

    return make


def link_tree(source: Path, target: Path) -> Path:
    """A folder of real subfolders whose files are symbolic links to ``source``'s: cheap to edit."""
    for path in sorted(source.rglob("*")):
        copy = target / path.relative_to(source)
        if path.is_dir():
            copy.mkdir(parents=True, exist_ok=True)
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.symlink_to(path)
    return target
