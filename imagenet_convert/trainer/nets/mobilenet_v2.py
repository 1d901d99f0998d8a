"""MobileNet v2 (Sandler et al. 2018, arXiv:1801.04381), with Slim's variable names and defaults.

Inverted residual blocks: a 1x1 expansion, a 3x3 depthwise convolution (both ReLU6) and a linear 1x1
projection, with a skip connection where stride and depth allow. Channel counts are rounded to multiples
of 8 exactly as Slim does, so a depth multiplier gives the shapes of Slim's checkpoints; scope names
(``Conv``, ``expanded_conv_N``, ``Conv_1``) do not depend on it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tf_slim as slim

import imagenet_convert.trainer.compat  # noqa: F401  (aliases ops.Tensor before tf_slim's layers run)

_STEM = 32  # Conv: 3x3, stride 2
# Bottleneck stages as in the paper's table 2: (expansion factor, output depth, repeats, first stride).
_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_HEAD = 1280  # Conv_1: 1x1, the embedding the classifier reads


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Slim's rounding of a channel count: nearest multiple of ``divisor``, never more than 10% below."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def mobilenet(
    inputs: tf.Tensor,
    num_classes: int | None = 1001,
    depth_multiplier: float = 1.0,
    is_training: bool = False,
    finegrain_classification_mode: bool = False,
    min_depth: int = 8,
    divisible_by: int = 8,
    activation_fn: Callable[..., tf.Tensor] = tf.nn.relu6,
    prediction_fn: Callable[..., tf.Tensor] | None = slim.softmax,
    reuse: bool | None = None,
    scope: str = "MobilenetV2",
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Slim's ``mobilenet_v2.mobilenet``: logits ``[batch, num_classes]`` (pooled features if no classes).

    ``finegrain_classification_mode`` keeps ``Conv_1`` at 1280 channels when the multiplier thins the
    rest: the paper found a wide embedding matters more to small models than the cost of it. Dropout
    takes its keep probability from ``arg_scope`` (0.8), as in Slim.
    """
    if inputs.shape.rank != 4:
        raise ValueError(f"Expected rank 4 input, was: {inputs.shape.rank}")
    if depth_multiplier <= 0:
        raise ValueError("multiplier is not greater than zero.")

    def depth(channels: float) -> int:
        return make_divisible(channels * depth_multiplier, divisible_by, min_depth)

    # Finegrain mode divides before multiplying, as Slim does, so the float rounding is the same.
    head = _HEAD / depth_multiplier if finegrain_classification_mode and depth_multiplier < 1 else _HEAD
    end_points: dict[str, tf.Tensor] = {}
    with (
        tf.compat.v1.variable_scope(scope, "Mobilenet", reuse=reuse),
        slim.arg_scope([slim.batch_norm], is_training=is_training, center=True, scale=True),
        slim.arg_scope(
            [slim.conv2d, slim.separable_conv2d],
            normalizer_fn=slim.batch_norm,
            activation_fn=activation_fn,
            padding="SAME",
        ),
    ):
        net = end_points["layer_1"] = slim.conv2d(inputs, depth(_STEM), [3, 3], stride=2, scope="Conv")
        blocks = [(t, c, s if r == 0 else 1) for t, c, n, s in _STAGES for r in range(n)]
        for index, (expansion, channels, stride) in enumerate(blocks):
            block_scope = f"expanded_conv_{index}" if index else "expanded_conv"
            net = _inverted_residual(
                net, depth(channels), expansion, stride, block_scope, end_points, f"layer_{index + 2}"
            )
        net = end_points[f"layer_{len(blocks) + 2}"] = slim.conv2d(
            net, depth(head), [1, 1], stride=1, scope="Conv_1"
        )

        with tf.compat.v1.variable_scope("Logits"):
            net = end_points["global_pool"] = _global_pool(net)
            if not num_classes:
                return net, end_points
            net = slim.dropout(net, scope="Dropout", is_training=is_training)
            logits = slim.conv2d(
                net,
                num_classes,
                [1, 1],
                activation_fn=None,
                normalizer_fn=None,
                biases_initializer=tf.compat.v1.zeros_initializer(),
                scope="Conv2d_1c_1x1",
            )
            logits = tf.squeeze(logits, [1, 2])
        end_points["Logits"] = logits
        if prediction_fn:
            end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


def _inverted_residual(
    net: tf.Tensor,
    channels: int,
    expansion: int,
    stride: int,
    scope: str,
    end_points: dict[str, tf.Tensor],
    layer: str,
) -> tf.Tensor:
    """Slim's ``expanded_conv``: expand (skipped when it would not widen), depthwise, linear projection.

    The projection has no activation: ReLU6 on the narrow bottleneck would destroy information (the
    paper's point). The skip needs stride 1 and equal depths.
    """
    inputs = net
    in_depth = inputs.shape.as_list()[3]
    # Slim rounds the first block's factor-1 "expansion" to multiples of 1: the input itself, no layer.
    inner = make_divisible(in_depth * expansion, 1 if expansion == 1 else 8)
    with tf.compat.v1.variable_scope(scope):
        if inner > in_depth:
            net = end_points[f"{layer}/expansion_output"] = slim.conv2d(net, inner, [1, 1], scope="expand")
        net = end_points[f"{layer}/depthwise_output"] = slim.separable_conv2d(
            net, None, [3, 3], depth_multiplier=1, stride=stride, scope="depthwise"
        )
        net = slim.conv2d(net, channels, [1, 1], activation_fn=None, scope="project")
        if stride == 1 and channels == in_depth:
            net += inputs
        net = end_points[layer] = end_points[f"{layer}/output"] = tf.identity(net, name="output")
    return net


def _global_pool(net: tf.Tensor) -> tf.Tensor:
    """Average over the whole map with an avg-pool op, which Slim chose for hardware support over a mean.

    A map of unknown size takes the mean instead: the pool op wants its window at graph-build time (Slim
    passes a tensor there, which TF rejects).
    """
    height, width = net.shape.as_list()[1:3]
    if height is None or width is None:
        return tf.reduce_mean(net, [1, 2], keepdims=True)
    return tf.nn.avg_pool2d(net, ksize=[1, height, width, 1], strides=[1, 1, 1, 1], padding="VALID")


def _thinned(multiplier: float, **kwargs: Any) -> Callable[..., tuple[tf.Tensor, dict[str, tf.Tensor]]]:
    build = functools.partial(mobilenet, depth_multiplier=multiplier, **kwargs)
    functools.update_wrapper(build, mobilenet)
    return build


mobilenet.default_image_size = 224  # type: ignore[attr-defined]
mobilenet_v2_140 = _thinned(1.4)
mobilenet_v2_035 = _thinned(0.35, finegrain_classification_mode=True)


def arg_scope(
    weight_decay: float = 0.00004,
    stddev: float = 0.09,
    dropout_keep_prob: float = 0.8,
    batch_norm_decay: float = 0.997,
) -> dict[str, dict[str, Any]]:
    """Slim's ``mobilenet_v2.training_scope``: L2 on the dense kernels only, dropout keeping 80%.

    A negative ``stddev`` asks for Xavier initialization instead. ``is_training`` is left to the builder.
    """
    if stddev < 0:
        initializer = slim.xavier_initializer()
    else:
        initializer = tf.compat.v1.truncated_normal_initializer(stddev=stddev)
    with (
        slim.arg_scope(
            [slim.conv2d, slim.fully_connected, slim.separable_conv2d],
            weights_initializer=initializer,
            normalizer_fn=slim.batch_norm,
        ),
        slim.arg_scope([slim.batch_norm], decay=batch_norm_decay),
        slim.arg_scope([slim.dropout], keep_prob=dropout_keep_prob),
        slim.arg_scope([slim.conv2d], weights_regularizer=slim.l2_regularizer(weight_decay)),
        slim.arg_scope([slim.separable_conv2d], weights_regularizer=None) as scope,
    ):
        return scope
