"""MobileNet v1 (Howard et al. 2017, arXiv:1704.04861), with Slim's variable names and defaults.

A 3x3 convolution then 13 depthwise-separable blocks (3x3 depthwise, 1x1 pointwise), each followed by
batch norm and ReLU6 (from ``arg_scope``, as in Slim). A depth multiplier thins every layer but leaves the
scope names alone, so ``mobilenet_v1_050`` restores Slim's 0.5 checkpoints.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tf_slim as slim

import imagenet_convert.trainer.compat  # noqa: F401  (aliases ops.Tensor before tf_slim's layers run)

# (stride, depth) of each layer: Conv2d_0 is a full 3x3 convolution, Conv2d_1..13 are separable.
_LAYERS: tuple[tuple[int, int], ...] = (
    (2, 32),
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    *[(1, 512)] * 5,
    (2, 1024),
    (1, 1024),
)
_KERNEL = [3, 3]
_POOL = [7, 7]  # the final 7x7 map at 224; smaller inputs pool what they have


def mobilenet_v1(
    inputs: tf.Tensor,
    num_classes: int | None = 1000,
    dropout_keep_prob: float = 0.999,
    is_training: bool = True,
    min_depth: int = 8,
    depth_multiplier: float = 1.0,
    prediction_fn: Callable[..., tf.Tensor] | None = slim.softmax,
    spatial_squeeze: bool = True,
    reuse: bool | None = None,
    scope: str = "MobilenetV1",
    global_pool: bool = False,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Slim's ``mobilenet_v1``: logits ``[batch, num_classes]`` (or the pooled features without classes).

    ``global_pool=False`` pools a fixed 7x7 window, so inputs larger than 224 give a spatial map of logits,
    as Slim's do; ``True`` averages whatever size comes in.
    """
    if inputs.shape.rank != 4:
        raise ValueError(f"Invalid input tensor rank, expected 4, was: {inputs.shape.rank}")
    if depth_multiplier <= 0:
        raise ValueError("depth_multiplier is not greater than zero.")

    def depth(channels: int) -> int:
        return max(int(channels * depth_multiplier), min_depth)

    end_points: dict[str, tf.Tensor] = {}
    with (
        tf.compat.v1.variable_scope(scope, "MobilenetV1", [inputs], reuse=reuse),
        slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training),
        slim.arg_scope([slim.conv2d, slim.separable_conv2d], padding="SAME", normalizer_fn=slim.batch_norm),
    ):
        net = inputs
        for index, (stride, channels) in enumerate(_LAYERS):
            name = f"Conv2d_{index}"
            if index == 0:
                net = end_points[name] = slim.conv2d(net, depth(channels), _KERNEL, stride=stride, scope=name)
                continue
            # num_outputs=None: depthwise only, normalized and activated before the pointwise layer.
            net = end_points[f"{name}_depthwise"] = slim.separable_conv2d(
                net, None, _KERNEL, depth_multiplier=1, stride=stride, scope=f"{name}_depthwise"
            )
            net = end_points[f"{name}_pointwise"] = slim.conv2d(
                net, depth(channels), [1, 1], stride=1, scope=f"{name}_pointwise"
            )

        with tf.compat.v1.variable_scope("Logits"):
            if global_pool:
                net = end_points["global_pool"] = tf.reduce_mean(
                    net, [1, 2], keepdims=True, name="global_pool"
                )
            else:
                net = end_points["AvgPool_1a"] = slim.avg_pool2d(
                    net, _reduced_kernel(net), padding="VALID", scope="AvgPool_1a"
                )
            if not num_classes:
                return net, end_points
            net = slim.dropout(net, keep_prob=dropout_keep_prob, scope="Dropout_1b")
            logits = slim.conv2d(
                net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="Conv2d_1c_1x1"
            )
            if spatial_squeeze:
                logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
        end_points["Logits"] = logits
        if prediction_fn:
            end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


def _reduced_kernel(net: tf.Tensor) -> list[int]:
    """The 7x7 pool window, cut to the map's size when a small input leaves less (unknown sizes keep 7)."""
    height, width = net.shape.as_list()[1:3]
    if height is None or width is None:
        return _POOL
    return [min(height, _POOL[0]), min(width, _POOL[1])]


def _thinned(multiplier: float) -> Callable[..., tuple[tf.Tensor, dict[str, tf.Tensor]]]:
    build = functools.partial(mobilenet_v1, depth_multiplier=multiplier)
    functools.update_wrapper(build, mobilenet_v1)
    return build


mobilenet_v1.default_image_size = 224  # type: ignore[attr-defined]
mobilenet_v1_075 = _thinned(0.75)
mobilenet_v1_050 = _thinned(0.50)
mobilenet_v1_025 = _thinned(0.25)


def arg_scope(
    weight_decay: float = 0.00004,
    stddev: float = 0.09,
    regularize_depthwise: bool = False,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 0.001,
) -> dict[str, dict[str, Any]]:
    """Slim's ``mobilenet_v1_arg_scope``: ReLU6 and batch norm everywhere, L2 on the dense kernels only.

    Depthwise kernels go unregularized by default: they hold few weights and decay starves them.
    ``is_training`` is left to the builder, whose inner scope decides it in Slim too.
    """
    regularizer = slim.l2_regularizer(weight_decay)
    with (
        slim.arg_scope(
            [slim.conv2d, slim.separable_conv2d],
            weights_initializer=tf.compat.v1.truncated_normal_initializer(stddev=stddev),
            activation_fn=tf.nn.relu6,
            normalizer_fn=slim.batch_norm,
        ),
        slim.arg_scope(
            [slim.batch_norm],
            center=True,
            scale=True,
            decay=batch_norm_decay,
            epsilon=batch_norm_epsilon,
        ),
        slim.arg_scope([slim.conv2d], weights_regularizer=regularizer),
        slim.arg_scope(
            [slim.separable_conv2d], weights_regularizer=regularizer if regularize_depthwise else None
        ) as scope,
    ):
        return scope
