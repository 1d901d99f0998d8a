"""PNASNet-5 (Liu et al. 2017, arXiv:1712.00559): Mobile and Large, with Slim's names and defaults.

One searched cell does all the work: it is the stem cell, the normal cell, and (strided, with doubled
width) the reduction cell; ``nasnet_cells`` stacks it.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from imagenet_convert.trainer.nets import nasnet_cells
from imagenet_convert.trainer.nets.nasnet_cells import CellSpec, Config

CELL = CellSpec(
    combinations=(
        ("separable_5x5_2", 1, "max_pool_3x3", 1),
        ("separable_7x7_2", 0, "max_pool_3x3", 0),
        ("separable_5x5_2", 0, "separable_3x3_2", 0),
        ("separable_3x3_2", 4, "max_pool_3x3", 0),
        ("separable_3x3_2", 1, "none", 0),
    ),
    concatenated=(2, 3, 4, 5, 6),
)

# Slim's large_imagenet_config and mobile_imagenet_config.
LARGE = Config(
    stem_multiplier=3.0,
    dense_dropout_keep_prob=0.5,
    num_cells=12,
    num_conv_filters=216,
    drop_path_keep_prob=0.6,
    skip_reduction_layer_input=True,
    total_training_steps=250000,
)
MOBILE = Config(
    stem_multiplier=1.0,
    dense_dropout_keep_prob=0.5,
    num_cells=9,
    num_conv_filters=54,
    drop_path_keep_prob=1.0,
    skip_reduction_layer_input=True,
    total_training_steps=250000,
)


def large_arg_scope(
    weight_decay: float = 4e-5, batch_norm_decay: float = 0.9997, batch_norm_epsilon: float = 1e-3
) -> dict[str, dict[str, Any]]:
    return nasnet_cells.arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def mobile_arg_scope(
    weight_decay: float = 4e-5, batch_norm_decay: float = 0.9997, batch_norm_epsilon: float = 1e-3
) -> dict[str, dict[str, Any]]:
    return nasnet_cells.arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def build_pnasnet_large(
    images: tf.Tensor,
    num_classes: int | None,
    is_training: bool = True,
    final_endpoint: str | None = None,
    config: Config | None = None,
    current_step: tf.Tensor | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """PNASNet-5 Large for 331x331 ImageNet images."""
    return _build(images, num_classes, is_training, final_endpoint, config or LARGE, current_step)


def build_pnasnet_mobile(
    images: tf.Tensor,
    num_classes: int | None,
    is_training: bool = True,
    final_endpoint: str | None = None,
    config: Config | None = None,
    current_step: tf.Tensor | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """PNASNet-5 Mobile for 224x224 ImageNet images."""
    return _build(images, num_classes, is_training, final_endpoint, config or MOBILE, current_step)


def _build(
    images: tf.Tensor,
    num_classes: int | None,
    is_training: bool,
    final_endpoint: str | None,
    config: Config,
    current_step: tf.Tensor | None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    return nasnet_cells.build(
        images,
        num_classes,
        is_training=is_training,
        config=config,
        normal=CELL,
        reduction=None,
        imagenet_stem=True,
        final_endpoint=final_endpoint,
        current_step=current_step,
    )


build_pnasnet_large.default_image_size = 331  # type: ignore[attr-defined]
build_pnasnet_mobile.default_image_size = 224  # type: ignore[attr-defined]
