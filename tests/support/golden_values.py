"""Deterministic weights and inputs for the forward-pass goldens of the Slim networks.

A golden is the logits of a network in an inference graph whose every variable holds
``variable_value(name, shape)`` and whose input is ``golden_images(size)``. The same function
(``logits``) computes them from Slim's own ``nets_factory`` (once, in a scratch environment, by
``tests/goldens/make_goldens.py``) and from ours (in ``tests/test_trainer_goldens.py``), so only the
network code differs between the two. Values depend on nothing but the variable's name and shape.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

NUM_CLASSES = 11  # a converted 10-class miniature: Slim's background class and ten more
BATCH = 2

# One representative per family (the golden is made at the net's default image size).
GOLDEN_MODELS = (
    "alexnet_v2", "cifarnet", "overfeat", "vgg_a", "lenet",
    "inception_v1", "inception_v2", "inception_v3", "inception_v4", "inception_resnet_v2",
    "resnet_v1_50", "resnet_v2_50", "mobilenet_v1_050", "mobilenet_v2_035",
    "nasnet_cifar", "nasnet_mobile", "pnasnet_mobile",
)  # fmt: skip


def variable_value(name: str, shape: tuple[int, ...] | list[int]) -> np.ndarray:
    """A value for one variable, seeded by its name, scaled so that activations neither vanish nor grow.

    Batch-norm statistics stay near identity (variance in [0.5, 1.5], gamma near 1); weights are
    He-scaled by their fan-in (a depthwise kernel's fan-in is its window alone).
    """
    shape = tuple(int(d) for d in shape)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    leaf = name.rsplit("/", 1)[-1]
    if leaf == "moving_variance":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if leaf == "gamma":
        return rng.uniform(0.8, 1.2, shape).astype(np.float32)
    if len(shape) < 2:
        return (0.1 * rng.standard_normal(shape)).astype(np.float32)
    fan_in = math.prod(shape[:-1])
    if "depthwise" in leaf:
        fan_in = math.prod(shape[:-2])
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)


def golden_images(size: int, batch: int = BATCH) -> np.ndarray:
    """A smooth pattern with noise in [-1, 1], the range Inception preprocessing gives."""
    rng = np.random.default_rng(0)
    ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    pattern = np.stack([np.sin(3 * xs), np.cos(2 * ys), xs * ys], axis=-1)
    images = 0.7 * pattern[None] + 0.3 * rng.uniform(-1, 1, (batch, size, size, 3))
    return images.astype(np.float32)


def logits(get_network_fn: Callable[..., Any], name: str) -> np.ndarray:
    """Inference logits of ``name`` from a Slim-style ``get_network_fn``, with the golden weights."""
    import tensorflow as tf

    with tf.Graph().as_default():
        network = get_network_fn(name, num_classes=NUM_CLASSES, is_training=False)
        size = network.default_image_size
        images = tf.constant(golden_images(size))
        output, _ = network(images)
        output = tf.reshape(output, [BATCH, NUM_CLASSES])
        variables = tf.compat.v1.global_variables()
        # One run for all assignments: a run per variable costs ~0.1 s in a NASNet-sized graph.
        values = [tf.compat.v1.placeholder(v.dtype.base_dtype, v.shape) for v in variables]
        assign = tf.group(*(v.assign(value) for v, value in zip(variables, values, strict=True)))
        with tf.compat.v1.Session() as session:
            session.run(
                assign,
                {
                    value: variable_value(v.op.name, v.shape.as_list())
                    for v, value in zip(variables, values, strict=True)
                },
            )
            return session.run(output)
