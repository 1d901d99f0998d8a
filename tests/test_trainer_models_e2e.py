"""A user's first run of a model, through the real CLI on the converted miniature: one training step at
batch 1, a checkpoint holding exactly Slim's variables, then ``evaluate`` and ``export`` on it.

A few small nets of the newer families stand for all 33 here (``make bench-train ARGS=--all-models``
runs every name the same way); ``test_trainer_nets.py`` checks every name's variables in-process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

from tests.support.cli import run_cli
from tests.test_trainer_nets import is_training_state, slim_model_variables

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["lenet", "mobilenet_v1_025", "nasnet_cifar"])
def test_one_step_then_evaluate_and_export(name: str, converted: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    model = ["--model_name", name, "--dataset_dir", converted]
    trained = run_cli(
        "train", *model, "--train_dir", run, "--max_number_of_steps", "1", "--batch_size", "1", timeout=600
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    saved = dict(tf.train.list_variables(str(run)))
    wanted = slim_model_variables(name, 11)
    assert {key: saved.get(key) for key in wanted} == wanted
    assert [key for key in saved if key not in wanted and not is_training_state(key, wanted)] == []
    assert saved["global_step"] == [] and tf.train.load_variable(str(run), "global_step") == 1

    evaluated = run_cli("evaluate", *model, "--checkpoint_path", run, "--eval_dir", tmp_path / "eval")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "eval/Accuracy" in evaluated.stdout

    exported = run_cli(
        "export", "--model_name", name, "--dataset_dir", converted, "--checkpoint_path", run,
        "--output_dir", tmp_path / "export",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (tmp_path / "export" / "saved_model.pb").is_file()
