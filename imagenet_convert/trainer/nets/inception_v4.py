"""Inception v4 (Szegedy et al. 2016, arXiv:1602.07261) with Slim's variable names.

Every Inception block is a table of branches, each branch a chain of layers whose outputs are
concatenated; Slim's layer names end in their kernel size (``Conv2d_0b_1x7``), so a layer is its name,
depth, stride and padding. ``inception_resnet_v2`` builds its blocks with the same tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import tensorflow as tf
import tf_slim as slim

from imagenet_convert.trainer import compat  # noqa: F401  (aliases ops.Tensor before tf_slim layers run)

VALID = "VALID"
SAME = "SAME"


class Conv(NamedTuple):
    """A batch-normalised convolution (as the arg scope makes it) whose kernel size ends its name."""

    name: str
    depth: int
    stride: int = 1
    padding: str = SAME


class Pool(NamedTuple):
    """A ``MaxPool_*`` or ``AvgPool_*`` layer whose window ends its name."""

    name: str
    stride: int = 1
    padding: str = SAME


class Fork(NamedTuple):
    """Layers that read the same input and whose outputs are concatenated (Inception-C's 1x3 | 3x1)."""

    layers: tuple[Conv, ...]


Step = Conv | Pool | Fork
Branch = tuple[Step, ...]
Block = tuple[Branch, ...]


def _kernel(name: str) -> list[int]:
    match = re.search(r"(\d+)x(\d+)$", name)
    if match is None:
        raise ValueError(f"layer name {name!r} does not end in its kernel size")
    return [int(match[1]), int(match[2])]


def layer(net: tf.Tensor, step: Step, valid: str = VALID) -> tf.Tensor:
    """Apply one step; ``valid`` is the padding of layers marked VALID (SAME aligns feature maps)."""
    if isinstance(step, Fork):
        return tf.concat([layer(net, conv, valid) for conv in step.layers], 3)
    padding = valid if step.padding == VALID else step.padding
    if isinstance(step, Pool):
        pool = slim.max_pool2d if step.name.startswith("MaxPool") else slim.avg_pool2d
        return pool(net, _kernel(step.name), stride=step.stride, padding=padding, scope=step.name)
    return slim.conv2d(
        net, step.depth, _kernel(step.name), stride=step.stride, padding=padding, scope=step.name
    )


def mixed(net: tf.Tensor, branches: Block, valid: str = VALID) -> tf.Tensor:
    """The branches of one block, each in its ``Branch_i`` scope, concatenated along channels."""
    outputs = []
    for index, branch in enumerate(branches):
        with tf.compat.v1.variable_scope(f"Branch_{index}"):
            output = net
            for step in branch:
                output = layer(output, step, valid)
            outputs.append(output)
    return tf.concat(outputs, 3)


def global_pool(net: tf.Tensor, scope: str) -> tf.Tensor:
    """Average over the whole feature map: a fixed window when its size is known, as Slim does."""
    kernel = net.shape[1:3]
    if kernel.is_fully_defined():
        return slim.avg_pool2d(net, kernel, padding=VALID, scope=scope)
    return tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")


def aux_logits(net: tf.Tensor, num_classes: int, scopes: tuple[str, str, str, str]) -> tf.Tensor:
    """The auxiliary classifier on the 17x17 features: 5x5/3 pool, 1x1 conv, conv over the rest, FC."""
    pool_scope, reduce_scope, conv_scope, logits_scope = scopes
    net = slim.avg_pool2d(net, [5, 5], stride=3, padding=VALID, scope=pool_scope)
    net = slim.conv2d(net, 128, [1, 1], scope=reduce_scope)
    net = slim.conv2d(net, 768, net.shape[1:3], padding=VALID, scope=conv_scope)
    return slim.fully_connected(slim.flatten(net), num_classes, activation_fn=None, scope=logits_scope)


def _stacked(prefix: str, count: int, block: Block) -> tuple[tuple[str, Block], ...]:
    """``count`` copies of a block, scoped ``Mixed_5b``, ``Mixed_5c``, ... as Slim names them."""
    return tuple((f"{prefix}{chr(ord('b') + index)}", block) for index in range(count))


_INCEPTION_A: Block = (
    (Conv("Conv2d_0a_1x1", 96),),
    (Conv("Conv2d_0a_1x1", 64), Conv("Conv2d_0b_3x3", 96)),
    (Conv("Conv2d_0a_1x1", 64), Conv("Conv2d_0b_3x3", 96), Conv("Conv2d_0c_3x3", 96)),
    (Pool("AvgPool_0a_3x3"), Conv("Conv2d_0b_1x1", 96)),
)
_REDUCTION_A: Block = (
    (Conv("Conv2d_1a_3x3", 384, 2, VALID),),
    (Conv("Conv2d_0a_1x1", 192), Conv("Conv2d_0b_3x3", 224), Conv("Conv2d_1a_3x3", 256, 2, VALID)),
    (Pool("MaxPool_1a_3x3", 2, VALID),),
)
_INCEPTION_B: Block = (
    (Conv("Conv2d_0a_1x1", 384),),
    (Conv("Conv2d_0a_1x1", 192), Conv("Conv2d_0b_1x7", 224), Conv("Conv2d_0c_7x1", 256)),
    (
        Conv("Conv2d_0a_1x1", 192),
        Conv("Conv2d_0b_7x1", 192),
        Conv("Conv2d_0c_1x7", 224),
        Conv("Conv2d_0d_7x1", 224),
        Conv("Conv2d_0e_1x7", 256),
    ),
    (Pool("AvgPool_0a_3x3"), Conv("Conv2d_0b_1x1", 128)),
)
_REDUCTION_B: Block = (
    (Conv("Conv2d_0a_1x1", 192), Conv("Conv2d_1a_3x3", 192, 2, VALID)),
    (
        Conv("Conv2d_0a_1x1", 256),
        Conv("Conv2d_0b_1x7", 256),
        Conv("Conv2d_0c_7x1", 320),
        Conv("Conv2d_1a_3x3", 320, 2, VALID),
    ),
    (Pool("MaxPool_1a_3x3", 2, VALID),),
)
_INCEPTION_C: Block = (
    (Conv("Conv2d_0a_1x1", 256),),
    (Conv("Conv2d_0a_1x1", 384), Fork((Conv("Conv2d_0b_1x3", 256), Conv("Conv2d_0c_3x1", 256)))),
    (
        Conv("Conv2d_0a_1x1", 384),
        Conv("Conv2d_0b_3x1", 448),
        Conv("Conv2d_0c_1x3", 512),
        Fork((Conv("Conv2d_0d_1x3", 256), Conv("Conv2d_0e_3x1", 256))),
    ),
    (Pool("AvgPool_0a_3x3"), Conv("Conv2d_0b_1x1", 256)),
)

# The network from the 299x299 image to the 8x8x1536 features: (end point, layer or block).
_LAYOUT: tuple[tuple[str, Step | Block], ...] = (
    ("Conv2d_1a_3x3", Conv("Conv2d_1a_3x3", 32, 2, VALID)),
    ("Conv2d_2a_3x3", Conv("Conv2d_2a_3x3", 32, 1, VALID)),
    ("Conv2d_2b_3x3", Conv("Conv2d_2b_3x3", 64)),
    ("Mixed_3a", ((Pool("MaxPool_0a_3x3", 2, VALID),), (Conv("Conv2d_0a_3x3", 96, 2, VALID),))),
    (
        "Mixed_4a",
        (
            (Conv("Conv2d_0a_1x1", 64), Conv("Conv2d_1a_3x3", 96, 1, VALID)),
            (
                Conv("Conv2d_0a_1x1", 64),
                Conv("Conv2d_0b_1x7", 64),
                Conv("Conv2d_0c_7x1", 64),
                Conv("Conv2d_1a_3x3", 96, 1, VALID),
            ),
        ),
    ),
    ("Mixed_5a", ((Conv("Conv2d_1a_3x3", 192, 2, VALID),), (Pool("MaxPool_1a_3x3", 2, VALID),))),
    *_stacked("Mixed_5", 4, _INCEPTION_A),
    ("Mixed_6a", _REDUCTION_A),
    *_stacked("Mixed_6", 7, _INCEPTION_B),
    ("Mixed_7a", _REDUCTION_B),
    *_stacked("Mixed_7", 3, _INCEPTION_C),
)


def inception_v4(
    inputs: tf.Tensor,
    num_classes: int | None = 1001,
    is_training: bool = True,
    dropout_keep_prob: float = 0.8,
    reuse: bool | None = None,
    scope: str = "InceptionV4",
    create_aux_logits: bool = True,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Slim's ``inception_v4``: logits (or, with no ``num_classes``, the pooled features) and end points."""
    end_points: dict[str, tf.Tensor] = {}
    with (
        tf.compat.v1.variable_scope(scope, "InceptionV4", [inputs], reuse=reuse),
        slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training),
    ):
        net = inputs
        for name, part in _LAYOUT:
            if isinstance(part, Conv):
                net = layer(net, part)
            else:
                with tf.compat.v1.variable_scope(name):
                    net = mixed(net, part)
            end_points[name] = net

        if create_aux_logits and num_classes:
            with tf.compat.v1.variable_scope("AuxLogits"):
                end_points["AuxLogits"] = aux_logits(
                    end_points["Mixed_6h"],
                    num_classes,
                    ("AvgPool_1a_5x5", "Conv2d_1b_1x1", "Conv2d_2a", "Aux_logits"),
                )

        with tf.compat.v1.variable_scope("Logits"):
            net = end_points["global_pool"] = global_pool(net, "AvgPool_1a")
            if not num_classes:
                return net, end_points
            net = slim.dropout(net, dropout_keep_prob, scope="Dropout_1b")
            net = end_points["PreLogitsFlatten"] = slim.flatten(net, scope="PreLogitsFlatten")
            logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="Logits")
            end_points["Logits"] = logits
            end_points["Predictions"] = tf.nn.softmax(logits, name="Predictions")
    return logits, end_points


inception_v4.default_image_size = 299  # type: ignore[attr-defined]


def arg_scope(
    weight_decay: float = 0.00004,
    use_batch_norm: bool = True,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 0.001,
    activation_fn: Callable[[tf.Tensor], tf.Tensor] | None = tf.nn.relu,
    batch_norm_updates_collections: str | None = tf.compat.v1.GraphKeys.UPDATE_OPS,
    batch_norm_scale: bool = False,
) -> dict[str, dict[str, Any]]:
    """Slim's ``inception_arg_scope``: He-initialised, L2-decayed convolutions with batch norm and ReLU."""
    batch_norm_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "updates_collections": batch_norm_updates_collections,
        "fused": None,
        "scale": batch_norm_scale,
    }
    with (
        slim.arg_scope(
            [slim.conv2d, slim.fully_connected], weights_regularizer=slim.l2_regularizer(weight_decay)
        ),
        slim.arg_scope(
            [slim.conv2d],
            weights_initializer=slim.variance_scaling_initializer(),
            activation_fn=activation_fn,
            normalizer_fn=slim.batch_norm if use_batch_norm else None,
            normalizer_params=batch_norm_params if use_batch_norm else {},
        ) as scope,
    ):
        return scope
