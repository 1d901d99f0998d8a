"""What the input holds, before any plan: its layout, the input files that name this conversion
(the fingerprint's inputs) and their modification times (checked on resume)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagenet_convert.inputs.layouts import Layout, open_layout
from imagenet_convert.plan.build import find_inputs
from imagenet_convert.run import resume
from imagenet_convert.run.config import RunConfig


@dataclass
class Survey:
    layout: Layout
    inputs: dict[str, Any]
    """Input names and sizes, or a folder's digest: see ``plan.build.find_inputs``."""
    mtimes: dict[str, float]


def survey(config: RunConfig) -> Survey:
    """Detect (or open the named) layout and find its inputs; reads listings and headers only."""
    options = config.plan
    layout = open_layout(
        config.input, config.layout, options.skip_bad_images, options.validation_labels, output=config.output
    )
    inputs = find_inputs(layout, options)
    return Survey(layout, inputs, resume.input_mtimes(layout.tree, inputs, options.validation_labels))
