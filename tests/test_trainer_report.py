"""What a benchmarker reads: images/s on each log line, ``train_report.json``, ``--synthetic_input``; and
the quiet start that keeps TensorFlow's lines out of it."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from imagenet_convert.trainer import data, quiet, report, train
from tests.support.trainer import Shape, train_argv, write_dataset


@pytest.mark.slow
def test_a_run_reports_what_benchmarkers_measure(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "data", Shape(num_classes=2, train_per_class=4))
    argv = train_argv(
        dataset, tmp_path / "run", "inception_v2", "--train_image_size", "32", "--optimizer", "sgd"
    )
    with contextlib.redirect_stdout(io.StringIO()) as log:
        assert (
            train.main(
                [*argv, "--max_number_of_steps", "12", "--log_every_n_steps", "4", "--synthetic_input"]
            )
            == 0
        )
    lines = log.getvalue().splitlines()
    for step, line in zip((4, 8, 12), lines, strict=False):
        assert re.fullmatch(rf"global step {step}: loss = [\d.]+ \([\d.]+ sec/step, [\d.]+ images/s\)", line)
    saved = json.loads((tmp_path / "run" / "train_report.json").read_text())
    assert lines[-1].startswith("local: ") and lines[-1].endswith(str(tmp_path / "run" / "train_report.json"))
    expected = {"task": "local", "steps": 12, "last_global_step": 12, "warmup_steps": 2, "images_per_step": 2}
    assert {key: saved[key] for key in expected} == expected
    assert saved["synthetic_input"] is True and saved["cluster"] is None
    assert saved["images_per_sec"] > 0 and 0 < saved["step_time_median_s"] <= saved["step_time_p90_s"]
    assert 0 <= saved["input_wait_share"] < 0.5  # one cached batch: the model never waits long
    assert saved["parameters"] > 10_000_000  # Inception v2 has about ten million
    assert saved["tensorflow_version"] == tf.__version__ and "CPU:0" in saved["devices"]
    assert saved["peak_memory_bytes"] > 100 * 2**20


def test_the_steady_state_leaves_the_warm_up_out() -> None:
    """12 steps of 10 images: the first two (slow) left out, then one step every 0.5 s."""
    times = [5.0, 2.0] + [0.5] * 9 + [1.0]
    stamps = [(float(sum(times[: i + 1])), i + 1) for i in range(12)]
    meter = report.Meter(10, times=times, waits=[0.1] * 12, stamps=stamps)
    figures = meter.summary()
    assert figures["warmup_steps"] == 2 and figures["images_per_sec"] == pytest.approx(100 / 5.5, abs=0.01)
    assert figures["step_time_median_s"] == 0.5 and figures["step_time_p90_s"] == pytest.approx(0.55)
    assert figures["input_wait_share"] == pytest.approx(1.0 / 5.5, abs=1e-4)
    assert (
        report.Meter(10, times=[1.0] * 2, waits=[0.0] * 2, stamps=stamps[:2]).summary()["images_per_sec"]
        is None
    )
    one_step = report.Meter(
        10, times=times[:3], waits=[0.0] * 3, stamps=stamps[:3]
    ).summary()  # VGG-416's case
    assert one_step["images_per_sec"] == pytest.approx(10 / 0.5) and one_step["step_time_median_s"] == 0.5


def test_report_files_name_their_task() -> None:
    assert [report.file_name(task) for task in ("local", "worker0", "worker1", "ps0")] == [
        "train_report.json", "train_report.json", "train_report.worker1.json", "train_report.ps0.json"
    ]  # fmt: skip


def test_synthetic_input_is_one_random_batch_of_the_right_shape() -> None:
    with tf.Graph().as_default():
        batches = data.synthetic_batches(batch_size=3, image_size=8, num_classes=5, seed=1)
        next_batch = tf.compat.v1.data.make_one_shot_iterator(batches).get_next()
        with tf.compat.v1.Session() as session:
            (images, labels), (again, _) = session.run(next_batch), session.run(next_batch)
    assert images.shape == (3, 8, 8, 3) and labels.shape == (3,)
    assert -1 <= images.min() < images.max() <= 1 and set(labels) <= set(range(5))
    np.testing.assert_array_equal(images, again)


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [([], False), (["--verbose"], True), (["--verbose=false"], False), (["--noverbose"], False),
     (["--model_name", "x", "--verbose"], True), (["--verbosity", "1"], False)],
)  # fmt: skip
def test_verbose_is_read_before_the_command_parses(argv: list[str], verbose: bool) -> None:
    assert quiet.verbose_requested(argv) is verbose


def test_tensorflows_start_up_lines_are_noise_and_errors_are_not() -> None:
    captured = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796682080.663031    5254 port.cc:153] oneDNN custom operations are on.",
        "W0000 00:00:1796682080.663031    5254 something.cc:1] a warning",
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow",
    ]
    assert all(quiet.NOISE.match(line) for line in captured)
    kept = [
        "E0000 00:00:1796682082.586174    5254 x.cc:52] a real error",
        "Traceback (most recent call last):",
    ]
    assert not any(quiet.NOISE.match(line) for line in kept)
