"""LeNet as Slim builds it: two 5x5 convolutions with 2x2 pools, then two fully connected layers (28 px)."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tf_slim as slim


def lenet(
    images: tf.Tensor,
    num_classes: int | None = 10,
    is_training: bool = False,
    dropout_keep_prob: float = 0.5,
    prediction_fn: Callable[..., tf.Tensor] = slim.softmax,
    scope: str = "LeNet",
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Logits and end points; without ``num_classes`` the 1024 features before the logits."""
    end_points: dict[str, tf.Tensor] = {}
    with tf.compat.v1.variable_scope(scope, "LeNet", [images]):
        net = images
        for i, width in enumerate((32, 64), 1):
            net = end_points[f"conv{i}"] = slim.conv2d(net, width, [5, 5], scope=f"conv{i}")
            net = end_points[f"pool{i}"] = slim.max_pool2d(net, [2, 2], 2, scope=f"pool{i}")
        net = end_points["Flatten"] = slim.flatten(net)
        net = end_points["fc3"] = slim.fully_connected(net, 1024, scope="fc3")
        if not num_classes:
            return net, end_points
        net = end_points["dropout3"] = slim.dropout(
            net, dropout_keep_prob, is_training=is_training, scope="dropout3"
        )
        logits = end_points["Logits"] = slim.fully_connected(
            net, num_classes, activation_fn=None, scope="fc4"
        )
    end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


lenet.default_image_size = 28  # type: ignore[attr-defined]


def arg_scope(weight_decay: float = 0.0) -> dict:
    """ReLU layers, truncated-normal weights (stddev 0.1) with L2 decay."""
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        weights_regularizer=slim.l2_regularizer(weight_decay),
        weights_initializer=tf.compat.v1.truncated_normal_initializer(stddev=0.1),
        activation_fn=tf.nn.relu,
    ) as scope:
        return scope
