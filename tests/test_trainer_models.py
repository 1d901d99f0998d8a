"""One model of every family builds its training graph and runs one step.

At the smallest sizes the nets accept (docs/ilsvrc2012.md, 7. Dependencies): VGG, AlexNet and OverFeat have
fully-connected layers as VALID convolutions (224, 231 px), Inception v1 a 7x7 VALID pool, Inception
v3, v4 and Inception-ResNet v2 their auxiliary heads (128, 107 px), LeNet and CifarNet dense layers
sized for 28 and 32 px; the others shrink their kernels or pool globally. The other depths and widths of
a family differ only in a table row, which ``test_trainer_nets.py`` checks variable by variable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagenet_convert.trainer import flags, nets_factory
from tests.support.trainer import Shape, run_steps, train_argv, write_dataset

SMALLEST_SIZE = {
    "alexnet_v2": 224, "overfeat": 231, "vgg_a": 224, "lenet": 28, "cifarnet": 32,
    "inception_v1": 224, "inception_v2": 32, "inception_v3": 128, "inception_v4": 107,
    "inception_resnet_v2": 107, "resnet_v1_50": 32, "resnet_v2_50": 32,
    "mobilenet_v1_025": 32, "mobilenet_v2_035": 32, "nasnet_cifar": 32, "pnasnet_mobile": 75,
}  # fmt: skip
NO_BACKGROUND = ("vgg", "resnet_v1", "alexnet", "overfeat")  # trained with --labels_offset 1, as Slim does

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("models"), Shape(num_classes=3, train_per_class=4))


def family(name: str) -> str:
    return nets_factory.ARCHITECTURES[name].build.split(":")[0]


def test_every_family_is_listed() -> None:
    assert {family(name) for name in SMALLEST_SIZE} == {family(name) for name in nets_factory.ARCHITECTURES}


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
