"""The graph Slim's train script and model_deploy build: losses, trained variables, in-graph clones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from imagenet_convert.errors import UsageError
from imagenet_convert.trainer import train
from tests.support.trainer import Shape, train_argv, write_dataset


def _log_softmax(logits: list[float]) -> np.ndarray:
    return np.array(logits) - np.log(np.sum(np.exp(logits)))


def test_losses_smooth_labels_and_weigh_the_auxiliary_head() -> None:
    logits = [[2.0, 0.0, -1.0]]
    with tf.Graph().as_default():
        onehot = tf.constant([[1.0, 0.0, 0.0]])
        train.add_losses({"AuxLogits": tf.constant(logits)}, tf.constant(logits), onehot, smoothing=0.3)
        with tf.compat.v1.Session() as session:
            aux, main = session.run(tf.compat.v1.losses.get_losses())
    smoothed = np.array([0.7 + 0.1, 0.1, 0.1])  # 0.3 spread over the 3 classes
    expected = -np.sum(smoothed * _log_softmax(logits[0]))
    assert (aux, main) == (pytest.approx(0.4 * expected), pytest.approx(expected))


def test_trainable_scopes_choose_the_variables_to_train() -> None:
    with tf.Graph().as_default():
        for name in ("net/conv/w", "net/logits/w", "net/logits/b", "other/w"):
            tf.compat.v1.get_variable(name, [1])
        assert len(train.variables_to_train(None)) == 4
        chosen = train.variables_to_train("net/logits, other")
        assert [v.op.name for v in chosen] == ["net/logits/w", "net/logits/b", "other/w"]
        with pytest.raises(UsageError, match="matches no trainable variable"):
            train.variables_to_train("missing")


def test_clone_devices() -> None:
    assert train.clone_devices(2, clone_on_cpu=True) == ["/device:CPU:0", "/device:CPU:0"]
    assert train.clone_devices(2, clone_on_cpu=False) == ["/device:GPU:0", "/device:GPU:1"]
    assert train.clone_devices(1, clone_on_cpu=False) == [""]


def test_gradients_are_the_clones_average_plus_weight_decay_once() -> None:
    with tf.Graph().as_default():
        w = tf.compat.v1.get_variable("w", initializer=tf.constant([1.0, 2.0]))
        clones = []
        for i, factor in enumerate((3.0, 5.0)):
            with tf.compat.v1.name_scope(f"clone_{i}") as scope:
                tf.compat.v1.losses.add_loss(tf.reduce_sum(factor * w))
            clones.append(train.Clone(scope, "/device:CPU:0", logits=None, labels=None))
        decay = 0.5 * tf.reduce_sum(w * w)
        tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES, decay)
        total, gradients = train.optimize_clones(
            clones, tf.compat.v1.train.GradientDescentOptimizer(1.0), [w]
        )
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            (gradient,) = [session.run(g) for g, _ in gradients]
            assert session.run(total) == pytest.approx((3 + 5) * 3 / 2 + 0.5 * (1 + 4))
    np.testing.assert_allclose(gradient, [(3 + 5) / 2 + 1, (3 + 5) / 2 + 2])


@pytest.mark.slow
def test_two_clones_on_cpu_train(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "data", Shape(num_classes=2, train_per_class=4))
    argv = train_argv(
        dataset,
        tmp_path / "run",
        "inception_v2",
        "--train_image_size",
        "32",
        "--num_clones",
        "2",
        "--clone_on_cpu",
        "--max_number_of_steps",
        "2",
    )
    assert train.main(argv) == 0
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("model.ckpt-2")
    names = tf.train.load_checkpoint(str(tmp_path / "run" / "model.ckpt-2")).get_variable_to_shape_map()
    assert not any("clone" in name for name in names)  # one set of variables, shared
    graph = (tmp_path / "run" / "graph.pbtxt").read_text()
    assert graph.count('op: "IteratorGetNext"') == 2  # a batch each
    assert 'name: "clone_1/scaled_clone_loss"' in graph and 'name: "sum_grads' in graph
