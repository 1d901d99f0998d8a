"""CifarNet as Slim builds it: two 5x5 convolutions with local response normalisation, three dense layers.

Its input is 32 px (CIFAR-10's size); on ImageNet shards the preprocessing crops to that.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tf_slim as slim


def _lrn(net: tf.Tensor, name: str) -> tf.Tensor:
    return tf.nn.lrn(net, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name=name)


def cifarnet(
    images: tf.Tensor,
    num_classes: int | None = 10,
    is_training: bool = False,
    dropout_keep_prob: float = 0.5,
    prediction_fn: Callable[..., tf.Tensor] = slim.softmax,
    scope: str = "CifarNet",
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Logits and end points; without ``num_classes`` the 192 features before the logits.

    The first block pools before normalising and the second after, as in Slim.
    """
    end_points: dict[str, tf.Tensor] = {}
    with tf.compat.v1.variable_scope(scope, "CifarNet", [images]):
        net = end_points["conv1"] = slim.conv2d(images, 64, [5, 5], scope="conv1")
        net = end_points["pool1"] = slim.max_pool2d(net, [2, 2], 2, scope="pool1")
        net = end_points["conv2"] = slim.conv2d(_lrn(net, "norm1"), 64, [5, 5], scope="conv2")
        net = end_points["pool2"] = slim.max_pool2d(_lrn(net, "norm2"), [2, 2], 2, scope="pool2")
        net = end_points["Flatten"] = slim.flatten(net)
        net = end_points["fc3"] = slim.fully_connected(net, 384, scope="fc3")
        net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout3")
        net = end_points["fc4"] = slim.fully_connected(net, 192, scope="fc4")
        if not num_classes:
            return net, end_points
        logits = end_points["Logits"] = slim.fully_connected(
            net,
            num_classes,
            biases_initializer=tf.compat.v1.zeros_initializer(),
            weights_initializer=tf.compat.v1.truncated_normal_initializer(stddev=1 / 192.0),
            weights_regularizer=None,
            activation_fn=None,
            scope="logits",
        )
    end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


cifarnet.default_image_size = 32  # type: ignore[attr-defined]


def arg_scope(weight_decay: float = 0.004) -> dict:
    """ReLU everywhere; the dense layers get L2 decay, truncated-normal weights and 0.1 biases."""
    with (
        slim.arg_scope(
            [slim.conv2d],
            weights_initializer=tf.compat.v1.truncated_normal_initializer(stddev=5e-2),
            activation_fn=tf.nn.relu,
        ),
        slim.arg_scope(
            [slim.fully_connected],
            biases_initializer=tf.compat.v1.constant_initializer(0.1),
            weights_initializer=tf.compat.v1.truncated_normal_initializer(stddev=0.04),
            weights_regularizer=slim.l2_regularizer(weight_decay),
            activation_fn=tf.nn.relu,
        ) as scope,
    ):
        return scope
