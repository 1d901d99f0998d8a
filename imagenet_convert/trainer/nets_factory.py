"""Slim's ``nets_factory``: the 33 model names of the seed's Slim fork, their arg scopes and image sizes.

Variable names match those Slim's own code creates, which is what makes ``--checkpoint_path``
fine-tuning from Slim's checkpoints work. Families ``tf_slim.nets`` ships (AlexNet, OverFeat, Inception
v1-v3, ResNet) come from it; the others (VGG with VGG-416, LeNet, CifarNet, Inception v4,
Inception-ResNet v2, MobileNet v1/v2, NASNet, PNASNet) are ours, in ``trainer/nets/``. Modules are
imported when a model is first asked for, and TensorFlow only when a network is built: the command line
reads the table before TensorFlow loads (quietly, ``quiet.py``).

Code written against Slim switches with one import::

    from imagenet_convert.trainer import nets_factory
    network_fn = nets_factory.get_network_fn("inception_v4", num_classes=1001, is_training=False)
    logits, end_points = network_fn(images)  # images: [batch, 299, 299, 3]
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

NetworkFn = Callable[..., tuple["tf.Tensor", dict[str, "tf.Tensor"]]]

_OURS = "imagenet_convert.trainer.nets."
_TF_SLIM = "tf_slim.nets."


@dataclass(frozen=True)
class Architecture:
    """One model name: where its builder and arg scope live (``module:function``), and Slim's defaults."""

    build: str
    arg_scope: str
    default_image_size: int
    preprocessing: str
    batch_norm: bool = True

    def builder(self) -> NetworkFn:
        return _resolve(self.build)

    def scope(self, **kwargs: Any) -> dict[str, dict[str, Any]]:
        return _resolve(self.arg_scope)(**kwargs)


def _resolve(where: str) -> Callable[..., Any]:
    module, function = where.split(":")
    return getattr(importlib.import_module(module), function)


def _family(
    module: str, names: dict[str, str], arg_scope: str, size: int, preprocessing: str, batch_norm: bool = True
) -> dict[str, Architecture]:
    """Several model names built by one module (depths, widths) that share an arg scope and size."""
    return {
        name: Architecture(f"{module}:{function}", f"{module}:{arg_scope}", size, preprocessing, batch_norm)
        for name, function in names.items()
    }


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


_INCEPTION = _TF_SLIM + "inception"
_RESNETS = {
    f"resnet_v{version}_{depth}": Architecture(
        f"{_TF_SLIM}resnet_v{version}:resnet_v{version}_{depth}",
        f"{_TF_SLIM}resnet_v{version}:resnet_arg_scope",
        224,
        "vgg" if version == 1 else "inception",  # resnet_v2: see preprocessing.py
    )
    for version in (1, 2)
    for depth in (50, 101, 152, 200)
}

# Slim's networks_map and arg_scopes_map, in its order. Slim gives inception_v1 and v2 the v3 arg scope.
ARCHITECTURES: dict[str, Architecture] = {
    "alexnet_v2": Architecture(
        _TF_SLIM + "alexnet:alexnet_v2", _TF_SLIM + "alexnet:alexnet_v2_arg_scope", 224, "vgg", False
    ),
    "cifarnet": Architecture(
        _OURS + "cifarnet:cifarnet", _OURS + "cifarnet:arg_scope", 32, "cifarnet", False
    ),
    "overfeat": Architecture(
        _TF_SLIM + "overfeat:overfeat", _TF_SLIM + "overfeat:overfeat_arg_scope", 231, "vgg", False
    ),
    **_family(_OURS + "vgg", _same("vgg_a", "vgg_16", "vgg_19", "vgg_416"), "arg_scope", 224, "vgg", False),
    **_family(_INCEPTION, _same("inception_v1", "inception_v2"), "inception_v3_arg_scope", 224, "inception"),
    **_family(_INCEPTION, _same("inception_v3"), "inception_v3_arg_scope", 299, "inception"),
    **_family(_OURS + "inception_v4", _same("inception_v4"), "arg_scope", 299, "inception"),
    **_family(_OURS + "inception_resnet_v2", _same("inception_resnet_v2"), "arg_scope", 299, "inception"),
    "lenet": Architecture(_OURS + "lenet:lenet", _OURS + "lenet:arg_scope", 28, "lenet", False),
    **_RESNETS,
    **_family(
        _OURS + "mobilenet_v1",
        _same("mobilenet_v1", "mobilenet_v1_075", "mobilenet_v1_050", "mobilenet_v1_025"),
        "arg_scope",
        224,
        "inception",
    ),
    **_family(
        _OURS + "mobilenet_v2",
        {
            "mobilenet_v2": "mobilenet",
            "mobilenet_v2_140": "mobilenet_v2_140",
            "mobilenet_v2_035": "mobilenet_v2_035",
        },
        "arg_scope",
        224,
        "inception",
    ),
    **_family(_OURS + "nasnet", {"nasnet_cifar": "build_nasnet_cifar"}, "cifar_arg_scope", 32, "cifarnet"),
    **_family(
        _OURS + "nasnet", {"nasnet_mobile": "build_nasnet_mobile"}, "mobile_arg_scope", 224, "inception"
    ),
    **_family(_OURS + "nasnet", {"nasnet_large": "build_nasnet_large"}, "large_arg_scope", 331, "inception"),
    **_family(
        _OURS + "pnasnet", {"pnasnet_large": "build_pnasnet_large"}, "large_arg_scope", 331, "inception"
    ),
    **_family(
        _OURS + "pnasnet", {"pnasnet_mobile": "build_pnasnet_mobile"}, "mobile_arg_scope", 224, "inception"
    ),
}


FAMILIES = sorted({arch.preprocessing for arch in ARCHITECTURES.values()})
"""The preprocessing families: vgg, inception, lenet, cifarnet."""


def architecture(name: str) -> Architecture:
    """Look a model up by Slim's name (``--model_name`` already restricts the CLI to these)."""
    if name not in ARCHITECTURES:
        raise ValueError(f"Name of network unknown {name}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def get_network_fn(
    name: str,
    num_classes: int,
    weight_decay: float = 0.0,
    is_training: bool = False,
    batch_norm_decay: float | None = None,
) -> NetworkFn:
    """Slim's ``get_network_fn``: ``logits, end_points = network_fn(images, **kwargs)`` under the arg scope.

    ``network_fn.default_image_size`` is the model's size. ``batch_norm_decay`` (not in Slim) overrides the
    arg scope's decay; only models with batch norm take one. Batch norm updates its moving statistics in
    place (``compat``), where Slim left the updates in ``UPDATE_OPS`` for the train op: same result.
    """
    import tf_slim as slim

    from imagenet_convert.trainer import compat

    arch = architecture(name)
    scope_args: dict[str, Any] = {"weight_decay": weight_decay}
    if batch_norm_decay is not None:
        if not arch.batch_norm:
            raise ValueError(f"{name} has no batch norm to give a decay to")
        scope_args["batch_norm_decay"] = batch_norm_decay
    build = arch.builder()

    @functools.wraps(build)
    def network_fn(images: tf.Tensor, **kwargs: Any) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        scope = compat.without_batch_norm_update_collections(arch.scope(**scope_args))
        with slim.arg_scope(scope):
            logits, end_points = build(images, num_classes=num_classes, is_training=is_training, **kwargs)
        return _squeezed(logits), end_points

    network_fn.default_image_size = arch.default_image_size  # type: ignore[attr-defined]
    return network_fn


def _squeezed(logits: tf.Tensor) -> tf.Tensor:
    """tf_slim's resnets return ``[batch, 1, 1, classes]``; Slim's later resnets squeeze, as the others do."""
    import tensorflow as tf

    if logits.shape.rank == 4:
        return tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
    return logits
