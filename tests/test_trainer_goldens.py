"""The networks compute the logits Slim's own code computes, from the same weights and images.

``tests/goldens/slim_logits.json`` holds the logits of Slim's ``nets_factory`` (made once, outside the
project, by ``tests/goldens/make_goldens.py``, whose docstring says how) for one model of each family,
in an inference graph whose weights are ``tests.support.golden_values.variable_value``. Float32 rounding
aside, ours must agree: the same layers, in the same order, with the same padding, strides and
activations.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagenet_convert.trainer import nets_factory
from tests.support.golden_values import GOLDEN_MODELS, NUM_CLASSES, logits

GOLDENS = Path(__file__).parent / "goldens" / "slim_logits.json"


@cache
def goldens() -> dict[str, Any]:
    return json.loads(GOLDENS.read_text())


def module(name: str) -> str:
    return nets_factory.ARCHITECTURES[name].build.split(":")[0]


def test_every_family_has_a_golden() -> None:
    assert {module(name) for name in nets_factory.ARCHITECTURES} == {module(name) for name in GOLDEN_MODELS}
    assert set(goldens()["logits"]) == set(GOLDEN_MODELS) and goldens()["num_classes"] == NUM_CLASSES


@pytest.mark.slow
@pytest.mark.parametrize("name", GOLDEN_MODELS)
def test_logits_equal_slims(name: str) -> None:
    golden = np.array(goldens()["logits"][name], np.float32)
    ours = logits(nets_factory.get_network_fn, name)
    np.testing.assert_allclose(ours, golden, rtol=1e-4, atol=1e-4 * float(np.abs(golden).max()))
