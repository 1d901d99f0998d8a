"""Inception-ResNet v2 (Szegedy et al. 2016, arXiv:1602.07261) with Slim's variable names.

Its blocks use ``inception_v4``'s branch tables. A residual block adds its branches, projected back to
the input's depth by a plain 1x1 convolution and scaled down (0.17, 0.10, 0.20 by stage, which keeps
the deep stacks stable), to its input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import tensorflow as tf
import tf_slim as slim

from imagenet_convert.trainer.nets.inception_v4 import (
    SAME,
    VALID,
    Block,
    Conv,
    Pool,
    aux_logits,
    global_pool,
    layer,
    mixed,
)

Activation = Callable[[tf.Tensor], tf.Tensor]

_STEM = (
    Conv("Conv2d_1a_3x3", 32, 2, VALID),
    Conv("Conv2d_2a_3x3", 32, 1, VALID),
    Conv("Conv2d_2b_3x3", 64),
    Pool("MaxPool_3a_3x3", 2, VALID),
    Conv("Conv2d_3b_1x1", 80, 1, VALID),
    Conv("Conv2d_4a_3x3", 192, 1, VALID),
    Pool("MaxPool_5a_3x3", 2, VALID),
)
_MIXED_5B: Block = (
    (Conv("Conv2d_1x1", 96),),
    (Conv("Conv2d_0a_1x1", 48), Conv("Conv2d_0b_5x5", 64)),
    (Conv("Conv2d_0a_1x1", 64), Conv("Conv2d_0b_3x3", 96), Conv("Conv2d_0c_3x3", 96)),
    (Pool("AvgPool_0a_3x3"), Conv("Conv2d_0b_1x1", 64)),
)
_MIXED_6A: Block = (
    (Conv("Conv2d_1a_3x3", 384, 2, VALID),),
    (Conv("Conv2d_0a_1x1", 256), Conv("Conv2d_0b_3x3", 256), Conv("Conv2d_1a_3x3", 384, 2, VALID)),
    (Pool("MaxPool_1a_3x3", 2, VALID),),
)
_MIXED_7A: Block = (
    (Conv("Conv2d_0a_1x1", 256), Conv("Conv2d_1a_3x3", 384, 2, VALID)),
    (Conv("Conv2d_0a_1x1", 256), Conv("Conv2d_1a_3x3", 288, 2, VALID)),
    (Conv("Conv2d_0a_1x1", 256), Conv("Conv2d_0b_3x3", 288), Conv("Conv2d_1a_3x3", 320, 2, VALID)),
    (Pool("MaxPool_1a_3x3", 2, VALID),),
)
_BLOCK35: Block = (
    (Conv("Conv2d_1x1", 32),),
    (Conv("Conv2d_0a_1x1", 32), Conv("Conv2d_0b_3x3", 32)),
    (Conv("Conv2d_0a_1x1", 32), Conv("Conv2d_0b_3x3", 48), Conv("Conv2d_0c_3x3", 64)),
)
_BLOCK17: Block = (
    (Conv("Conv2d_1x1", 192),),
    (Conv("Conv2d_0a_1x1", 128), Conv("Conv2d_0b_1x7", 160), Conv("Conv2d_0c_7x1", 192)),
)
_BLOCK8: Block = (
    (Conv("Conv2d_1x1", 192),),
    (Conv("Conv2d_0a_1x1", 192), Conv("Conv2d_0b_1x3", 224), Conv("Conv2d_0c_3x1", 256)),
)


class Stage(NamedTuple):
    """A ``Mixed_*`` block, then ``copies`` residual blocks in the scope Slim's ``slim.repeat`` gave them."""

    name: str
    block: Block
    repeat_scope: str
    residual_name: str
    copies: int
    residual: Block
    scale: float
    end_point: str | None = None  # Slim's name for the stage's output, where it has one


_STAGES = (
    Stage("Mixed_5b", _MIXED_5B, "Repeat", "block35", 10, _BLOCK35, 0.17),
    Stage("Mixed_6a", _MIXED_6A, "Repeat_1", "block17", 20, _BLOCK17, 0.10, "PreAuxLogits"),
    Stage("Mixed_7a", _MIXED_7A, "Repeat_2", "block8", 9, _BLOCK8, 0.20),
)


def residual(net: tf.Tensor, branches: Block, scale: float, activation_fn: Activation | None) -> tf.Tensor:
    """One Inception-ResNet block; a ReLU6 net clips the scaled residual to ReLU6's range first."""
    mixed_net = mixed(net, branches)
    up = slim.conv2d(mixed_net, net.shape[3], 1, normalizer_fn=None, activation_fn=None, scope="Conv2d_1x1")
    scaled = up * scale
    if activation_fn == tf.nn.relu6:
        scaled = tf.clip_by_value(scaled, -6.0, 6.0)
    net += scaled
    return activation_fn(net) if activation_fn else net


def _features(
    inputs: tf.Tensor, end_points: dict[str, tf.Tensor], valid: str, activation_fn: Activation
) -> tf.Tensor:
    """The network from the image to the 8x8x1536 features, recording Slim's end points."""
    net = inputs
    for step in _STEM:
        net = end_points[step.name] = layer(net, step, valid)
    for stage in _STAGES:
        with tf.compat.v1.variable_scope(stage.name):
            net = end_points[stage.name] = mixed(net, stage.block, valid)
        with tf.compat.v1.variable_scope(stage.repeat_scope):
            for index in range(1, stage.copies + 1):
                with tf.compat.v1.variable_scope(f"{stage.residual_name}_{index}"):
                    net = residual(net, stage.residual, stage.scale, activation_fn)
        if stage.end_point:
            end_points[stage.end_point] = net
    with tf.compat.v1.variable_scope("Block8"):
        net = residual(net, _BLOCK8, 1.0, None)
    net = end_points["Conv2d_7b_1x1"] = layer(net, Conv("Conv2d_7b_1x1", 1536))
    return net


def inception_resnet_v2(
    inputs: tf.Tensor,
    num_classes: int | None = 1001,
    is_training: bool = True,
    dropout_keep_prob: float = 0.8,
    reuse: bool | None = None,
    scope: str = "InceptionResnetV2",
    create_aux_logits: bool = True,
    activation_fn: Activation = tf.nn.relu,
    align_feature_maps: bool = False,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Slim's ``inception_resnet_v2``; ``align_feature_maps`` pads SAME where Slim's base pads VALID."""
    end_points: dict[str, tf.Tensor] = {}
    with (
        tf.compat.v1.variable_scope(scope, "InceptionResnetV2", [inputs], reuse=reuse),
        slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training),
    ):
        net = _features(inputs, end_points, SAME if align_feature_maps else VALID, activation_fn)

        if create_aux_logits and num_classes:
            with tf.compat.v1.variable_scope("AuxLogits"):
                end_points["AuxLogits"] = aux_logits(
                    end_points["PreAuxLogits"],
                    num_classes,
                    ("Conv2d_1a_3x3", "Conv2d_1b_1x1", "Conv2d_2a_5x5", "Logits"),
                )

        with tf.compat.v1.variable_scope("Logits"):
            net = end_points["global_pool"] = global_pool(net, "AvgPool_1a_8x8")
            if not num_classes:
                return net, end_points
            net = slim.dropout(slim.flatten(net), dropout_keep_prob, scope="Dropout")
            end_points["PreLogitsFlatten"] = net
            logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="Logits")
            end_points["Logits"] = logits
            end_points["Predictions"] = tf.nn.softmax(logits, name="Predictions")
    return logits, end_points


inception_resnet_v2.default_image_size = 299  # type: ignore[attr-defined]


def arg_scope(
    weight_decay: float = 0.00004,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 0.001,
    activation_fn: Activation = tf.nn.relu,
    batch_norm_updates_collections: str | None = tf.compat.v1.GraphKeys.UPDATE_OPS,
    batch_norm_scale: bool = False,
) -> dict[str, dict[str, Any]]:
    """Slim's ``inception_resnet_v2_arg_scope``: L2 decay on weights and biases, batch norm, ReLU."""
    regularizer = slim.l2_regularizer(weight_decay)
    batch_norm_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "updates_collections": batch_norm_updates_collections,
        "fused": None,
        "scale": batch_norm_scale,
    }
    with (
        slim.arg_scope(
            [slim.conv2d, slim.fully_connected],
            weights_regularizer=regularizer,
            biases_regularizer=regularizer,
        ),
        slim.arg_scope(
            [slim.conv2d],
            activation_fn=activation_fn,
            normalizer_fn=slim.batch_norm,
            normalizer_params=batch_norm_params,
        ) as scope,
    ):
        return scope
