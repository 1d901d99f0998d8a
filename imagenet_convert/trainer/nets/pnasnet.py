"""PNASNet-5 (Liu et al. 2017, arXiv:1712.00559): Mobile and Large, with Slim's names and defaults.

One searched cell does all the work: it is the stem cell, the normal cell, and (strided, with doubled
width) the reduction cell; ``nasnet_cells`` stacks it.
"""

from __future__ import annotations

import functools

from imagenet_convert.trainer.nets import nasnet_cells
from imagenet_convert.trainer.nets.nasnet_cells import CellSpec, Config, Network

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


# Slim's pnasnet_large_arg_scope and pnasnet_mobile_arg_scope defaults.
large_arg_scope = functools.partial(
    nasnet_cells.arg_scope, weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=1e-3
)
mobile_arg_scope = large_arg_scope

build_pnasnet_large = nasnet_cells.builder(
    "build_pnasnet_large",
    Network(CELL, None, imagenet_stem=True, config=LARGE, default_image_size=331),
    "PNASNet-5 Large for 331x331 ImageNet images.",
)
build_pnasnet_mobile = nasnet_cells.builder(
    "build_pnasnet_mobile",
    Network(CELL, None, imagenet_stem=True, config=MOBILE, default_image_size=224),
    "PNASNet-5 Mobile for 224x224 ImageNet images.",
)
