"""Every model name of Slim's factory creates exactly the variables Slim's own code creates.

The specification, ``tests/data/slim-nets-variables.json.gz``, lists each variable's name and shape as
Slim's ``nets_factory`` made them in a training graph at the model's default size (the file's ``about``
says how). Matching it is what lets Slim's released checkpoints load with ``--checkpoint_path`` and no
``--ignore_missing_vars``. Every name is checked the way the specification was made (the network alone,
cheap); for a few, the trainer's whole graph is built (optimizer, moving averages, input pipeline: the
gradients of the big nets take minutes to build here), where the only extra variables allowed are what
training adds: ``global_step``, the optimizer's slots and the moving averages.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import tensorflow as tf

from imagenet_convert.trainer import data, flags, nets_factory, train
from tests.support.trainer import Shape, train_argv, write_dataset

SPEC = Path(__file__).parent / "data" / "slim-nets-variables.json.gz"


@cache
def spec() -> dict[str, Any]:
    with gzip.open(SPEC, "rt") as f:
        return json.load(f)


def slim_variables(name: str, num_classes: int) -> dict[str, list[int]]:
    return spec()["variables"][str(num_classes)][name]


def slim_model_variables(name: str, num_classes: int) -> dict[str, list[int]]:
    """The specification less NASNet's stray ``.../global_step``: Slim's drop path makes one inside the
    network when no global step exists yet (as when the specification was made), never in a training
    graph, whose global step comes first, in Slim's train script as in ours."""
    return {
        key: shape
        for key, shape in slim_variables(name, num_classes).items()
        if not key.endswith("/global_step")
    }


@pytest.fixture(scope="module")
def ten_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shards of 10 classes: 11 logits with Slim's background class, as the specification's."""
    return write_dataset(tmp_path_factory.mktemp("nets"), Shape(num_classes=10, train_per_class=1))


def test_every_name_of_slims_factory_is_offered_at_its_size() -> None:
    sizes = {name: arch.default_image_size for name, arch in nets_factory.ARCHITECTURES.items()}
    assert sizes == spec()["default_image_size"]


def is_training_state(name: str, model_variables: dict[str, list[int]]) -> bool:
    """``global_step``, an optimizer slot (``<variable>/RMSProp``) or a moving average of a variable."""
    owner = name.rsplit("/", 1)[0]
    return name == "global_step" or owner in model_variables or name.endswith("/ExponentialMovingAverage")


def network_variables(name: str, num_classes: int) -> dict[str, list[int]]:
    """The variables of ``name``'s training network at its default size, as the specification was made."""
    with tf.Graph().as_default():
        network = nets_factory.get_network_fn(name, num_classes, weight_decay=4e-5, is_training=True)
        size = network.default_image_size
        network(tf.compat.v1.placeholder(tf.float32, [1, size, size, 3]))
        return {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(nets_factory.ARCHITECTURES))
def test_network_holds_slims_variables(name: str) -> None:
    assert network_variables(name, 11) == slim_variables(name, 11)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inception_v4", "nasnet_mobile", "mobilenet_v2_035"])
def test_imagenets_1001_classes(name: str) -> None:
    """Only the logits (and auxiliary logits) depend on the number of classes."""
    assert network_variables(name, 1001) == slim_variables(name, 1001)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet", "mobilenet_v2_035"])  # nasnet_cifar: test_trainer_models_e2e.py
def test_training_graph_adds_only_training_state(name: str, ten_classes: Path, tmp_path: Path) -> None:
    argv = train_argv(ten_classes, tmp_path, name, "--batch_size", "1", "--moving_average_decay", "0.999")
    args = flags.train_parser().parse_args(argv)
    with tf.Graph().as_default():
        train.build(args, data.load_split(args.dataset_dir, args.dataset_split_name))
        made = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    wanted = slim_model_variables(name, 11)
    assert {key: made.get(key) for key in wanted} == wanted
    assert [key for key in made if key not in wanted and not is_training_state(key, wanted)] == []


def test_slims_factory_signature() -> None:
    """``get_network_fn(name, num_classes, weight_decay=0.0, is_training=False)``, as code written for Slim
    calls it, and Slim's ``ValueError`` for an unknown name."""
    network = nets_factory.get_network_fn("lenet", 11)
    assert network.default_image_size == 28 and network.__name__ == "lenet"
    with tf.Graph().as_default():
        logits, end_points = network(tf.zeros([3, 28, 28, 3]))
        assert logits.shape.as_list() == [3, 11] and "Predictions" in end_points
    with pytest.raises(ValueError, match="Name of network unknown vgg_1000"):
        nets_factory.get_network_fn("vgg_1000", 11)
