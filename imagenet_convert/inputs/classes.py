"""The 1000 real ILSVRC2012 classes, shipped with the package for the generator and checks."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def imagenet1k_classes() -> tuple[tuple[str, str], ...]:
    """(wnid, words) for the 1000 challenge classes, sorted by WNID."""
    text = resources.files("imagenet_convert").joinpath("data/imagenet1k_classes.tsv").read_text()
    rows = (line.split("\t", 1) for line in text.splitlines() if line.strip())
    return tuple((wnid, words) for wnid, words in rows)
