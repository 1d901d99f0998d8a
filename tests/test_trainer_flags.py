"""Slim's flags: same names and defaults as the seed's Script Arguments; what cannot work is refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from imagenet_convert.__main__ import main as cli
from imagenet_convert.format import filenames
from imagenet_convert.trainer import flags
from tests.support.cli import run_cli

# The seed document's "Script Arguments" (Slim's train_image_classifier.py), log_every_n_steps changed to 5.
SEED_DEFAULTS = {
    "adadelta_rho": 0.95,
    "adagrad_initial_accumulator_value": 0.1,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "batch_size": 32,
    "checkpoint_exclude_scopes": None,
    "checkpoint_path": None,
    "clone_on_cpu": False,
    "dataset_dir": None,
    "dataset_name": "imagenet",
    "dataset_split_name": "train",
    "end_learning_rate": 0.0001,
    "ftrl_initial_accumulator_value": 0.1,
    "ftrl_l1": 0.0,
    "ftrl_l2": 0.0,
    "ftrl_learning_rate_power": -0.5,
    "ignore_missing_vars": False,
    "label_smoothing": 0.0,
    "labels_offset": 0,
    "learning_rate": 0.01,
    "learning_rate_decay_factor": 0.94,
    "learning_rate_decay_type": "exponential",
    "log_every_n_steps": 5,
    "master": "",
    "max_number_of_steps": None,
    "model_name": "inception_v3",
    "momentum": 0.9,
    "moving_average_decay": None,
    "num_clones": 1,
    "num_epochs_per_decay": 2.0,
    "num_preprocessing_threads": 4,
    "num_ps_tasks": 0,
    "num_readers": 4,
    "opt_epsilon": 1.0,
    "optimizer": "rmsprop",
    "preprocessing_name": None,
    "quantize_delay": -1,
    "replicas_to_aggregate": 1,
    "rmsprop_decay": 0.9,
    "rmsprop_momentum": 0.9,
    "save_interval_secs": 600,
    "save_summaries_secs": 600,
    "sync_replicas": False,
    "task": 0,
    "train_dir": "/tmp/tfmodel/",
    "train_image_size": None,
    "trainable_scopes": None,
    "weight_decay": 4e-05,
    "worker_replicas": 1,
}
# Slim's eval_image_classifier.py, with the split defaulting to validation as the issue asks.
EVAL_DEFAULTS = {
    "batch_size": 100,
    "max_num_batches": None,
    "checkpoint_path": "/tmp/tfmodel/",
    "eval_dir": "/tmp/tfmodel/",
    "num_preprocessing_threads": 4,
    "dataset_name": "imagenet",
    "dataset_split_name": "validation",
    "dataset_dir": None,
    "labels_offset": 0,
    "model_name": "inception_v3",
    "preprocessing_name": None,
    "moving_average_decay": None,
    "eval_image_size": None,
    "master": "",
    "verbose": False,
}
# Ours, beside Slim's: the cluster's addresses, the benchmark's input and TensorFlow's own logging.
NOT_IN_SLIM = {
    "seed", "batch_norm_decay", "ps_hosts", "worker_hosts", "job_name", "cluster_timeout_secs",
    "synthetic_input", "verbose",
}  # fmt: skip


def test_train_flags_have_the_seed_names_and_defaults() -> None:
    parsed = vars(flags.train_parser().parse_args([]))
    assert {name: parsed[name] for name in SEED_DEFAULTS} == SEED_DEFAULTS
    assert set(parsed) - set(SEED_DEFAULTS) == NOT_IN_SLIM


def test_eval_flags_have_slims_names_and_defaults() -> None:
    assert vars(flags.eval_parser().parse_args([])) == EVAL_DEFAULTS


@pytest.mark.parametrize(
    ("argv", "expected"),
    [([], False), (["--clone_on_cpu"], True), (["--clone_on_cpu=true"], True),
     (["--clone_on_cpu", "false"], False), (["--clone_on_cpu", "--noclone_on_cpu"], False)],
)  # fmt: skip
def test_booleans_take_absl_spellings(argv: list[str], expected: bool) -> None:
    assert flags.train_parser().parse_args(argv).clone_on_cpu is expected


@pytest.mark.parametrize(
    ("flag", "says"),
    [("--quantize_delay=0", "contrib.quantize"), ("--dataset_name=cifar10", "only 'imagenet'")],
)  # fmt: skip
def test_unsupported_flags_stop_with_a_clear_message(
    flag: str, says: str, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["train", "--dataset_dir", str(tmp_path), flag]) == 2
    error = capsys.readouterr().err
    assert flag.split("=")[0] in error and says in error


def test_default_values_of_unsupported_flags_are_accepted() -> None:
    argv = ["--quantize_delay=-1", "--dataset_name=imagenet"]
    assert flags.refusal(flags.train_parser().parse_args(argv)) is None


def test_evaluate_and_train_need_a_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["evaluate"]) == 2
    assert "--dataset_dir" in capsys.readouterr().err
    assert cli(["train"]) == 2
    assert "--dataset_dir" in capsys.readouterr().err


@pytest.mark.slow
def test_the_cli_reaches_the_trainer_and_says_only_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # TensorFlow's start-up lines hidden by us
    result = run_cli(
        "train", "--worker_hosts", "h:1,h:2", "--job_name", "worker", "--dataset_dir", "x", timeout=120
    )
    assert result.returncode == 2
    assert result.stderr == "error: several workers need at least one ps task to hold the variables\n"
    assert result.stdout == ""


@pytest.mark.slow
def test_missing_shards_fail_the_run_with_exit_1(
    converted, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / filenames.INFO).write_bytes((converted / filenames.INFO).read_bytes())
    assert cli(["evaluate", "--dataset_dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "are missing" in error and "rerun the conversion" in error


def test_the_command_line_is_read_before_tensorflow_loads() -> None:
    """``quiet`` must read ``--verbose`` before TensorFlow prints its start-up lines."""
    probe = "import sys, imagenet_convert.trainer.flags; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
