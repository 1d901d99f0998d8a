"""The two fixes tf-slim 1.1.0 needs on TensorFlow 2.21 for its batch-norm nets.

Kept in one place so that dropping them when tf-slim catches up is a one-module change. Why they are
needed: docs/ilsvrc2012.md, section 7 (Dependencies).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_slim as slim
from tensorflow.python.framework import ops


def install() -> None:
    """Alias ``ops.Tensor``, removed in TF 2.21, that tf-slim's ``isinstance`` checks still name."""
    if not hasattr(ops, "Tensor"):
        ops.Tensor = tf.Tensor


def without_batch_norm_update_collections(scope: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return a copy of a Slim arg scope whose batch norm updates its moving statistics in place.

    With ``updates_collections=None`` tf-slim uses its own fused kernel; the default ``UPDATE_OPS`` path
    goes through a Keras layer that imports ``tf_keras``, which TF 2.21 no longer provides. Slim's arg scopes
    set the collection both on ``batch_norm`` and inside ``conv2d``'s ``normalizer_params`` (the latter
    wins over any outer scope), so both are rewritten.
    """
    patched = {key: dict(kwargs) for key, kwargs in scope.items()}
    for kwargs in patched.values():
        if "normalizer_params" in kwargs:
            kwargs["normalizer_params"] = {**kwargs["normalizer_params"], "updates_collections": None}
    batch_norm_key = slim.arg_scope_func_key(slim.batch_norm)
    patched[batch_norm_key] = {**patched.get(batch_norm_key, {}), "updates_collections": None}
    return patched


install()
