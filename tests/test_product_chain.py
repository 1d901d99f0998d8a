"""The user's whole chain on the project's own miniature: convert, train a Slim model, evaluate.

The trainer's own tests use shards they write themselves; this one proves the converter's output
is what the trainer needs, and that the generator's classes are learnable through Slim's
preprocessing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.cli import convert, run_cli

pytestmark = pytest.mark.slow

MODEL = ["--model_name", "resnet_v1_50", "--labels_offset", "1"]
STEPS = 100
REQUIRED_TOP1 = 0.4
"""Four times chance (10 classes); seen: 0.92 after 100 steps (0.68 after 80)."""


def test_convertedature_trains_clearly_better_than_chance(mini_imagenet: Path, tmp_path: Path) -> None:
    dataset, run = tmp_path / "tfrecord", tmp_path / "train"
    converted = convert(mini_imagenet, dataset)
    assert converted.returncode == 0, converted.stderr
    trained = run_cli(
        "train", "--dataset_dir", dataset, *MODEL, "--train_dir", run, "--train_image_size", "64",
        "--batch_size", "16", "--max_number_of_steps", str(STEPS), "--optimizer", "adam",
        "--learning_rate", "0.001", "--opt_epsilon", "1e-8", "--batch_norm_decay", "0.9", "--seed", "1",
        timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    evaluated = run_cli(
        "evaluate", "--dataset_dir", dataset, *MODEL, "--checkpoint_path", run, "--eval_image_size", "64",
        timeout=300,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "on 50 validation examples" in evaluated.stdout
    top1 = float(re.search(r"eval/Accuracy\[([0-9.]+)\]", evaluated.stdout).group(1))
    print(f"top-1 after {STEPS} steps: {top1:.2f} (chance 0.10)")
    assert top1 >= REQUIRED_TOP1, evaluated.stdout
