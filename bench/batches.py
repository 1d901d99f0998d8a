"""How mixed the trainer's batches are: the spread of each batch's mean label, next to independent batches.

Readers interleave a few shards through a small shuffle buffer, so they can only mix what the shards
mix: class-sorted shards give batches from a drifting window of classes. Independent batches of ``b``
labels drawn from the split have a mean label with standard deviation ``std(labels) / sqrt(b)``; the
trainer's own input pipeline is measured against that.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from imagenet_convert.format import filenames

BATCHES = 500
BATCH_SIZE = 32
TARGET_RATIO = 1.15


def independent_std(class_counts: dict[int, int], batch_size: int) -> float:
    """Standard deviation of the mean of ``batch_size`` labels drawn independently from the split."""
    labels = np.array(list(class_counts), dtype=np.float64)
    weights = np.array(list(class_counts.values()), dtype=np.float64)
    mean = np.average(labels, weights=weights)
    return math.sqrt(np.average((labels - mean) ** 2, weights=weights) / batch_size)


def label_spread(dataset_dir: Path, batches: int = BATCHES, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Run the trainer's training input (Slim's defaults: 4 readers, a 20-batch buffer) for ``batches``."""
    import tensorflow as tf

    from imagenet_convert.trainer.data import load_split, train_batches

    split = load_split(str(dataset_dir), "train")
    pipeline = train_batches(
        split,
        lambda image, boxes: tf.zeros([1]),
        batch_size=batch_size,
        num_readers=4,
        num_threads=4,
        labels_offset=0,
        seed=0,
    )
    means = [float(np.mean(labels.numpy())) for _, labels in pipeline.take(batches)]
    info = json.loads((dataset_dir / filenames.INFO).read_text())
    counts = {int(label): n for label, n in info["splits"]["train"]["class_counts"].items()}
    measured, independent = float(np.std(means)), independent_std(counts, batch_size)
    return {
        "batches": len(means),
        "batch_size": batch_size,
        "std_of_batch_mean_label": round(measured, 2),
        "independent_batches_std": round(independent, 2),
        "ratio": round(measured / independent, 3),
        "target_ratio": TARGET_RATIO,
    }
