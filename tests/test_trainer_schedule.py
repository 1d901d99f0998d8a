"""Learning-rate schedules and optimizers, checked against Slim's formulas with numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from imagenet_convert.trainer import data, flags, train
from tests.support.trainer import Shape, write_dataset

EPOCH = 1000  # examples in the split
BASE = ["--learning_rate", "0.01", "--batch_size", "10", "--num_epochs_per_decay", "2"]  # 200 steps per decay


def _rates(argv: list[str], steps: list[int]) -> list[float]:
    args = flags.train_parser().parse_args(argv)
    with tf.Graph().as_default():
        step = tf.compat.v1.placeholder(tf.int64, [])
        rate = train.learning_rate(args, EPOCH, step)
        with tf.compat.v1.Session() as session:
            return [float(session.run(rate, {step: s})) for s in steps]


@pytest.mark.parametrize(
    ("decay", "expected"),
    [
        ("fixed", {0: 0.01, 200: 0.01, 5000: 0.01}),
        # staircase: multiplied by 0.94 every 200 steps
        ("exponential", {0: 0.01, 199: 0.01, 200: 0.0094, 399: 0.0094, 400: 0.008836, 1000: 0.01 * 0.94**5}),
        # linear from 0.01 to end_learning_rate 0.0001 over 200 steps, then flat
        ("polynomial", {0: 0.01, 100: 0.00505, 150: 0.002575, 200: 0.0001, 1000: 0.0001}),
    ],
)
def test_decay_types(decay: str, expected: dict[int, float]) -> None:
    rates = _rates([*BASE, "--learning_rate_decay_type", decay], list(expected))
    assert rates == pytest.approx(list(expected.values()), rel=1e-5)


def test_epochs_are_measured_on_the_split_written(tmp_path: Path) -> None:
    split = data.load_split(str(write_dataset(tmp_path, Shape(num_classes=2, train_per_class=30))), "train")
    args = flags.train_parser().parse_args(["--batch_size", "4", "--num_epochs_per_decay", "1.5"])
    assert split.num_examples == 60
    assert train.decay_steps(args, split.num_examples) == 22  # int(60 / 4 * 1.5)


# Two updates of w = [1, -2] under the gradient g = [0.5, -1.5], with the rate after two decays
# (0.01 * 0.94**2) and non-default hyper-parameters, so each flag is seen to reach its optimizer.
G = np.array([0.5, -1.5])
W0 = np.array([1.0, -2.0])
LR = 0.01 * 0.94**2


def _sgd(w: np.ndarray, s: dict) -> np.ndarray:
    return w - LR * G


def _momentum(w: np.ndarray, s: dict) -> np.ndarray:  # --momentum 0.5
    s["v"] = 0.5 * s.get("v", 0.0) + G
    return w - LR * s["v"]


def _rmsprop(
    w: np.ndarray, s: dict
) -> np.ndarray:  # --rmsprop_decay 0.8 --rmsprop_momentum 0.6 --opt_epsilon 0.1
    s["ms"] = 0.8 * s.get("ms", 1.0) + 0.2 * G**2  # TF1's RMSProp starts the mean square at 1
    s["mom"] = 0.6 * s.get("mom", 0.0) + LR * G / np.sqrt(s["ms"] + 0.1)
    return w - s["mom"]


def _adam(w: np.ndarray, s: dict) -> np.ndarray:  # --adam_beta1 0.8 --adam_beta2 0.99 --opt_epsilon 0.1
    s["t"] = s.get("t", 0) + 1
    s["m"] = 0.8 * s.get("m", 0.0) + 0.2 * G
    s["v"] = 0.99 * s.get("v", 0.0) + 0.01 * G**2
    rate = LR * np.sqrt(1 - 0.99 ** s["t"]) / (1 - 0.8 ** s["t"])
    return w - rate * s["m"] / (np.sqrt(s["v"]) + 0.1)


def _adagrad(w: np.ndarray, s: dict) -> np.ndarray:  # --adagrad_initial_accumulator_value 0.3
    s["acc"] = s.get("acc", 0.3) + G**2
    return w - LR * G / np.sqrt(s["acc"])


def _adadelta(w: np.ndarray, s: dict) -> np.ndarray:  # --adadelta_rho 0.8 --opt_epsilon 0.1
    s["acc"] = 0.8 * s.get("acc", 0.0) + 0.2 * G**2
    update = np.sqrt(s.get("acc_update", 0.0) + 0.1) / np.sqrt(s["acc"] + 0.1) * G
    s["acc_update"] = 0.8 * s.get("acc_update", 0.0) + 0.2 * update**2
    return w - LR * update


def _ftrl(
    w: np.ndarray, s: dict
) -> np.ndarray:  # --ftrl_initial_accumulator_value 0.2 --ftrl_l1 0.01 --ftrl_l2 0.02
    accum = s.get("acc", 0.2)
    s["acc"] = accum + G**2  # --ftrl_learning_rate_power -0.5: the square roots below
    s["linear"] = s.get("linear", 0.0) + G - (np.sqrt(s["acc"]) - np.sqrt(accum)) / LR * w
    quadratic = np.sqrt(s["acc"]) / LR + 2 * 0.02
    return np.where(np.abs(s["linear"]) > 0.01, (np.sign(s["linear"]) * 0.01 - s["linear"]) / quadratic, 0.0)


OPTIMIZERS: dict[str, tuple[list[str], Callable[[np.ndarray, dict], np.ndarray]]] = {
    "sgd": ([], _sgd),
    "momentum": (["--momentum", "0.5"], _momentum),
    "rmsprop": (["--rmsprop_decay", "0.8", "--rmsprop_momentum", "0.6", "--opt_epsilon", "0.1"], _rmsprop),
    "adam": (["--adam_beta1", "0.8", "--adam_beta2", "0.99", "--opt_epsilon", "0.1"], _adam),
    "adagrad": (["--adagrad_initial_accumulator_value", "0.3"], _adagrad),
    "adadelta": (["--adadelta_rho", "0.8", "--opt_epsilon", "0.1"], _adadelta),
    "ftrl": (
        [
            "--ftrl_initial_accumulator_value",
            "0.2",
            "--ftrl_l1",
            "0.01",
            "--ftrl_l2",
            "0.02",
            "--ftrl_learning_rate_power",
            "-0.5",
        ],
        _ftrl,
    ),
}


def test_every_optimizer_is_covered() -> None:
    assert set(OPTIMIZERS) == set(train._OPTIMIZERS)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_steps_follow_the_formula_at_the_scheduled_rate(name: str) -> None:
    extra, reference = OPTIMIZERS[name]
    args = flags.train_parser().parse_args([*BASE, "--optimizer", name, *extra])
    with tf.Graph().as_default():
        w = tf.compat.v1.get_variable("w", initializer=tf.constant(W0, tf.float32))
        step = tf.constant(400, tf.int64)  # two decays in
        opt = train.optimizer(args, train.learning_rate(args, EPOCH, step))
        update = opt.apply_gradients([(tf.constant(G, tf.float32), w)])
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            observed = []
            for _ in range(2):
                session.run(update)
                observed.append(session.run(w))
    state: dict = {}
    expected = [reference(W0, state)]
    expected.append(reference(expected[0], state))
    np.testing.assert_allclose(observed, expected, rtol=2e-5, atol=1e-7)
