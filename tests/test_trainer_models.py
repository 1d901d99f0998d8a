"""Every Slim model the trainer offers builds its training graph and runs one step.

At the smallest sizes the nets accept (facts file, section 7): VGG, AlexNet and OverFeat have
fully-connected layers as VALID convolutions (224, 231 px), Inception v1 a 7x7 VALID pool, Inception v3
its auxiliary head (128 px); the others shrink their kernels or pool globally.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagenet_convert.trainer import flags, nets_factory
from tests.trainer_support import Shape, run_steps, train_argv, write_dataset

SMALLEST_SIZE = {
    "alexnet_v2": 224, "overfeat": 231, "vgg_a": 224, "vgg_16": 224, "vgg_19": 224,
    "inception_v1": 224, "inception_v2": 32, "inception_v3": 128,
    **{f"resnet_v{v}_{depth}": 32 for v in (1, 2) for depth in (50, 101, 152, 200)},
}  # fmt: skip
NO_BACKGROUND = ("vgg", "resnet_v1", "alexnet", "overfeat")  # trained with --labels_offset 1, as Slim does

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("models"), Shape(num_classes=3, train_per_class=4))


def test_every_model_is_listed() -> None:
    assert set(SMALLEST_SIZE) == set(nets_factory.ARCHITECTURES)


@pytest.mark.parametrize("model", SMALLEST_SIZE)
def test_one_training_step(model: str, dataset: Path, tmp_path: Path) -> None:
    offset = "1" if model.startswith(NO_BACKGROUND) else "0"
    argv = train_argv(
        dataset,
        tmp_path,
        model,
        "--train_image_size",
        str(SMALLEST_SIZE[model]),
        "--labels_offset",
        offset,
        "--optimizer",
        "sgd",
    )
    loss, step = run_steps(flags.train_parser().parse_args(argv), steps=1)
    assert step == 1 and np.isfinite(loss) and loss > 0
