"""The tf-slim compatibility layer: what TF 2.21 removed is back, and batch norm avoids tf_keras."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_slim as slim
from tensorflow.python.framework import ops
from tf_slim.nets import inception, resnet_v2

from imagenet_convert.trainer import compat

BATCH_NORM = slim.arg_scope_func_key(slim.batch_norm)


def test_tensor_alias_is_installed() -> None:
    assert ops.Tensor is tf.Tensor


def test_batch_norm_collections_are_cleared_everywhere_and_nothing_else_changes() -> None:
    for original in (resnet_v2.resnet_arg_scope(), inception.inception_v3_arg_scope()):
        patched = compat.without_batch_norm_update_collections(original)
        assert patched[BATCH_NORM]["updates_collections"] is None
        for key, kwargs in patched.items():
            if "normalizer_params" in kwargs:
                assert kwargs["normalizer_params"]["updates_collections"] is None
                assert (
                    original[key]["normalizer_params"]["updates_collections"]
                    == tf.compat.v1.GraphKeys.UPDATE_OPS
                )
                unchanged = {
                    k: v for k, v in kwargs["normalizer_params"].items() if k != "updates_collections"
                }
                assert unchanged.items() <= original[key]["normalizer_params"].items()
        assert patched.keys() >= original.keys()


def test_batch_norm_updates_its_moving_mean_in_place() -> None:
    """One training-mode forward pass moves the statistics; nothing is left in UPDATE_OPS to run."""
    with tf.Graph().as_default():
        images = tf.fill([2, 4, 4, 3], 5.0)
        with slim.arg_scope(compat.without_batch_norm_update_collections(resnet_v2.resnet_arg_scope())):
            net = slim.conv2d(images, 2, [1, 1], normalizer_fn=slim.batch_norm, scope="conv")
        moving_mean = next(v for v in slim.get_model_variables() if "moving_mean" in v.op.name)
        assert not tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(net)
            assert np.any(session.run(moving_mean) != 0.0)
