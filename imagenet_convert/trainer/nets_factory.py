"""Slim's nets factory over ``tf_slim.nets``: the same names, arg scopes and default image sizes.

Variable names therefore match Slim's published checkpoints, which is what makes
``--checkpoint_path`` fine-tuning work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
import tf_slim as slim
from tf_slim.nets import alexnet, inception, overfeat, resnet_v1, resnet_v2, vgg

from imagenet_convert.trainer import compat

NetworkFn = Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]]


@dataclass(frozen=True)
class Architecture:
    """One entry of Slim's ``networks_map`` and ``arg_scopes_map``."""

    build: Callable[..., tuple[tf.Tensor, dict[str, tf.Tensor]]]
    arg_scope: Callable[..., dict[str, dict[str, Any]]]
    default_image_size: int
    batch_norm: bool = True


def _resnets(module: Any, prefix: str) -> dict[str, Architecture]:
    return {
        f"{prefix}_{depth}": Architecture(getattr(module, f"{prefix}_{depth}"), module.resnet_arg_scope, 224)
        for depth in (50, 101, 152, 200)
    }


# Slim's factory gives inception_v1 and v2 the inception_v3 arg scope; so do we. tf_slim's overfeat lacks
# ``default_image_size``; 231 is Slim's value.
ARCHITECTURES: dict[str, Architecture] = {
    "alexnet_v2": Architecture(alexnet.alexnet_v2, alexnet.alexnet_v2_arg_scope, 224, batch_norm=False),
    "overfeat": Architecture(overfeat.overfeat, overfeat.overfeat_arg_scope, 231, batch_norm=False),
    "vgg_a": Architecture(vgg.vgg_a, vgg.vgg_arg_scope, 224, batch_norm=False),
    "vgg_16": Architecture(vgg.vgg_16, vgg.vgg_arg_scope, 224, batch_norm=False),
    "vgg_19": Architecture(vgg.vgg_19, vgg.vgg_arg_scope, 224, batch_norm=False),
    "inception_v1": Architecture(inception.inception_v1, inception.inception_v3_arg_scope, 224),
    "inception_v2": Architecture(inception.inception_v2, inception.inception_v3_arg_scope, 224),
    "inception_v3": Architecture(inception.inception_v3, inception.inception_v3_arg_scope, 299),
    **_resnets(resnet_v1, "resnet_v1"),
    **_resnets(resnet_v2, "resnet_v2"),
}


def architecture(name: str) -> Architecture:
    """Look a model up by Slim's name, failing with the list of known names."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown --model_name {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def network_fn(
    name: str, num_classes: int, weight_decay: float, is_training: bool, batch_norm_decay: float | None = None
) -> NetworkFn:
    """Slim's ``get_network_fn``: ``logits, end_points = fn(images)`` under the model's arg scope.

    ``batch_norm_decay`` overrides the arg scope's (only models with batch norm have one).
    """
    arch = architecture(name)
    scope_args: dict[str, Any] = {"weight_decay": weight_decay}
    if batch_norm_decay is not None:
        if not arch.batch_norm:
            raise ValueError(f"{name} has no batch norm to give a decay to")
        scope_args["batch_norm_decay"] = batch_norm_decay

    def apply(images: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        scope = compat.without_batch_norm_update_collections(arch.arg_scope(**scope_args))
        with slim.arg_scope(scope):
            logits, end_points = arch.build(images, num_classes=num_classes, is_training=is_training)
        return _squeezed(logits), end_points

    return apply


def _squeezed(logits: tf.Tensor) -> tf.Tensor:
    """tf_slim's resnets return ``[batch, 1, 1, classes]``; Slim's later resnets squeeze, as the others do."""
    if logits.shape.rank == 4:
        return tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
    return logits
