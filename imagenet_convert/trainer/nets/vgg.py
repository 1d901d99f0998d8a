"""Oxford's VGG nets as Slim builds them, and the seed fork's VGG-416, from one table of group depths.

Slim's VGG turns its fully connected layers into convolutions (``fc6`` a 7x7 VALID one), so the
networks need 224 px. VGG-416 is VGG-16 with 80 more 3x3 convolutions in every group: the seed's
memory workload, whose training activations take gigabytes per image.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tf_slim as slim

# Convolutions per group (conv1..conv5, of 64, 128, 256, 512, 512 channels).
DEPTHS: dict[str, tuple[int, ...]] = {
    "vgg_a": (1, 1, 2, 2, 2),
    "vgg_16": (2, 2, 3, 3, 3),
    "vgg_19": (2, 2, 4, 4, 4),
    "vgg_416": (82, 82, 83, 83, 83),
}
_WIDTHS = (64, 128, 256, 512, 512)


def arg_scope(weight_decay: float = 0.0005) -> dict:
    """ReLU, L2 on the weights, zero biases, SAME convolutions."""
    with (
        slim.arg_scope(
            [slim.conv2d, slim.fully_connected],
            activation_fn=tf.nn.relu,
            weights_regularizer=slim.l2_regularizer(weight_decay),
            biases_initializer=tf.compat.v1.zeros_initializer(),
        ),
        slim.arg_scope([slim.conv2d], padding="SAME") as scope,
    ):
        return scope


def _vgg(
    depths: tuple[int, ...],
    inputs: tf.Tensor,
    num_classes: int | None,
    is_training: bool,
    dropout_keep_prob: float,
    spatial_squeeze: bool,
    scope: str,
    fc_conv_padding: str,
    global_pool: bool,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Five groups of 3x3 convolutions, each closed by a 2x2 max pool, then fc6, fc7 and fc8."""
    with tf.compat.v1.variable_scope(scope, scope, [inputs]) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope(
            [slim.conv2d, slim.fully_connected, slim.max_pool2d], outputs_collections=collection
        ):
            net = inputs
            for group, (depth, width) in enumerate(zip(depths, _WIDTHS, strict=True), 1):
                net = slim.repeat(net, depth, slim.conv2d, width, [3, 3], scope=f"conv{group}")
                net = slim.max_pool2d(net, [2, 2], scope=f"pool{group}")
            net = slim.conv2d(net, 4096, [7, 7], padding=fc_conv_padding, scope="fc6")
            net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout6")
            net = slim.conv2d(net, 4096, [1, 1], scope="fc7")
            end_points = slim.utils.convert_collection_to_dict(collection)
            if global_pool:
                net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                end_points["global_pool"] = net
            if num_classes:
                net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout7")
                net = slim.conv2d(
                    net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="fc8"
                )
                if spatial_squeeze:
                    net = tf.squeeze(net, [1, 2], name="fc8/squeezed")
                end_points[sc.name + "/fc8"] = net
            return net, end_points


def _variant(name: str) -> Callable[..., tuple[tf.Tensor, dict[str, tf.Tensor]]]:
    """A builder with Slim's signature and defaults for one row of ``DEPTHS``."""

    def build(
        inputs: tf.Tensor,
        num_classes: int | None = 1000,
        is_training: bool = True,
        dropout_keep_prob: float = 0.5,
        spatial_squeeze: bool = True,
        scope: str = name,
        fc_conv_padding: str = "VALID",
        global_pool: bool = False,
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        return _vgg(
            DEPTHS[name], inputs, num_classes, is_training, dropout_keep_prob, spatial_squeeze, scope,
            fc_conv_padding, global_pool,
        )  # fmt: skip

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"Slim's ``{name}``: groups of {', '.join(map(str, DEPTHS[name]))} convolutions."
    build.default_image_size = 224  # type: ignore[attr-defined]
    return build


vgg_a = _variant("vgg_a")
vgg_16 = _variant("vgg_16")
vgg_19 = _variant("vgg_19")
vgg_416 = _variant("vgg_416")
