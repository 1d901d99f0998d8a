"""NASNet-A (Zoph et al. 2017, arXiv:1707.07012): CIFAR, Mobile and Large, with Slim's names and defaults.

The normal and reduction cells found by the search, as tables; ``nasnet_cells`` stacks them (normal cells
with a reduction cell before cells num_cells/3 and 2*num_cells/3). The ImageNet models start with two
reduction cells as their stem.
"""

from __future__ import annotations

import functools

from imagenet_convert.trainer.nets import nasnet_cells
from imagenet_convert.trainer.nets.nasnet_cells import CellSpec, Config, Network

NORMAL_CELL = CellSpec(
    combinations=(
        ("separable_5x5_2", 0, "separable_3x3_2", 1),
        ("separable_5x5_2", 1, "separable_3x3_2", 1),
        ("avg_pool_3x3", 0, "none", 1),
        ("avg_pool_3x3", 1, "avg_pool_3x3", 1),
        ("separable_3x3_2", 0, "none", 0),
    ),
    concatenated=(1, 2, 3, 4, 5, 6),
)
REDUCTION_CELL = CellSpec(
    combinations=(
        ("separable_5x5_2", 0, "separable_7x7_2", 1),
        ("max_pool_3x3", 0, "separable_7x7_2", 1),
        ("avg_pool_3x3", 0, "separable_5x5_2", 1),
        ("none", 3, "avg_pool_3x3", 2),
        ("separable_3x3_2", 2, "max_pool_3x3", 0),
    ),
    concatenated=(3, 4, 5, 6),
)

# Slim's cifar_config, mobile_imagenet_config and large_imagenet_config.
CIFAR = Config(
    stem_multiplier=3.0,
    dense_dropout_keep_prob=1.0,
    num_cells=18,
    num_conv_filters=32,
    drop_path_keep_prob=0.6,
    skip_reduction_layer_input=False,
    total_training_steps=937500,  # 600 epochs at batch 32
)
MOBILE = Config(
    stem_multiplier=1.0,
    dense_dropout_keep_prob=0.5,
    num_cells=12,
    num_conv_filters=44,
    drop_path_keep_prob=1.0,
    skip_reduction_layer_input=False,
    total_training_steps=250000,
)
LARGE = Config(
    stem_multiplier=3.0,
    dense_dropout_keep_prob=0.5,
    num_cells=18,
    num_conv_filters=168,
    drop_path_keep_prob=0.7,
    skip_reduction_layer_input=True,
    total_training_steps=250000,
)


# Slim's nasnet_cifar_arg_scope, nasnet_mobile_arg_scope and nasnet_large_arg_scope defaults.
cifar_arg_scope = functools.partial(
    nasnet_cells.arg_scope, weight_decay=5e-4, batch_norm_decay=0.9, batch_norm_epsilon=1e-5
)
mobile_arg_scope = functools.partial(
    nasnet_cells.arg_scope, weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=1e-3
)
large_arg_scope = functools.partial(
    nasnet_cells.arg_scope, weight_decay=5e-5, batch_norm_decay=0.9997, batch_norm_epsilon=1e-3
)

build_nasnet_cifar = nasnet_cells.builder(
    "build_nasnet_cifar",
    Network(NORMAL_CELL, REDUCTION_CELL, imagenet_stem=False, config=CIFAR, default_image_size=32),
    "NASNet-A 6@768 for 32x32 CIFAR images: a 3x3 convolution for a stem, no stem cells.",
)
build_nasnet_mobile = nasnet_cells.builder(
    "build_nasnet_mobile",
    Network(NORMAL_CELL, REDUCTION_CELL, imagenet_stem=True, config=MOBILE, default_image_size=224),
    "NASNet-A 4@1056 for 224x224 ImageNet images.",
)
build_nasnet_large = nasnet_cells.builder(
    "build_nasnet_large",
    Network(NORMAL_CELL, REDUCTION_CELL, imagenet_stem=True, config=LARGE, default_image_size=331),
    "NASNet-A 6@4032 for 331x331 ImageNet images.",
)
