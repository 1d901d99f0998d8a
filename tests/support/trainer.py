"""Small Slim-format datasets for the trainer tests, written here rather than by the converter.

``write_dataset`` lays out what the converter writes (shards, ``labels.txt``, ``imagenet_convert.json``)
with one solid, noisy colour per class, which a small net learns in a few hundred steps. Swapping in
the converter's output only needs a folder of that layout.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from imagenet_convert.format import filenames
from imagenet_convert.trainer import data, train

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 30),
    "blue": (30, 50, 220),
    "yellow": (230, 220, 30),
    "magenta": (210, 30, 210),
    "cyan": (30, 210, 210),
    "orange": (240, 140, 20),
    "purple": (110, 30, 160),
    "grey": (128, 128, 128),
    "white": (245, 245, 245),
}


@dataclass(frozen=True)
class Shape:
    """How big a generated dataset is."""

    num_classes: int = 4
    train_per_class: int = 16
    validation_per_class: int = 6
    train_shards: int = 2
    validation_shards: int = 2
    height: int = 48
    width: int = 64


def jpeg(
    rgb: tuple[int, int, int], rng: np.random.Generator, height: int, width: int, mode: str = "RGB"
) -> bytes:
    """A JPEG of one colour with pixel noise (so no two images are the same)."""
    pixels = np.clip(np.array(rgb) + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _float(values: list[float]) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _int(values: list[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def slim_example(
    encoded: bytes, label: int, text: str, height: int, width: int, boxes: list[tuple[float, ...]]
) -> bytes:
    """A record with the keys of Slim's ``build_imagenet_data.py`` plus ``image/object/class/label``.

    ``boxes`` are (xmin, ymin, xmax, ymax), normalized.
    """
    feature = {
        "image/encoded": _bytes(encoded),
        "image/format": _bytes(b"JPEG"),
        "image/filename": _bytes(f"{text}_{label}.JPEG".encode()),
        "image/height": _int([height]),
        "image/width": _int([width]),
        "image/colorspace": _bytes(b"RGB"),
        "image/channels": _int([3]),
        "image/class/label": _int([label]),
        "image/class/synset": _bytes(f"n{label:08d}".encode()),
        "image/class/text": _bytes(text.encode()),
        "image/object/bbox/label": _int([label] * len(boxes)),
        "image/object/class/label": _int([label] * len(boxes)),
        **{
            f"image/object/bbox/{key}": _float([box[i] for box in boxes])
            for i, key in enumerate(("xmin", "ymin", "xmax", "ymax"))
        },
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _split_records(shape: Shape, per_class: int, with_boxes: bool, rng: np.random.Generator) -> list[bytes]:
    names = list(COLOURS)[: shape.num_classes]
    records = []
    for index in rng.permutation(per_class * shape.num_classes):
        label = 1 + index % shape.num_classes
        name = names[label - 1]
        boxes = [(0.25, 0.2, 0.75, 0.8)] if with_boxes and index % 2 else []
        encoded = jpeg(COLOURS[name], rng, shape.height, shape.width)
        records.append(slim_example(encoded, label, name, shape.height, shape.width, boxes))
    return records


def _write_shards(folder: Path, split: str, records: list[bytes], num_shards: int) -> list[dict]:
    shards = []
    for i, part in enumerate(np.array_split(np.arange(len(records)), num_shards)):
        name = filenames.shard_name(split, i, num_shards)
        with tf.io.TFRecordWriter(str(folder / name)) as writer:
            for j in part:
                writer.write(records[j])
        shards.append({"name": name, "num_records": len(part)})
    return shards


def write_dataset(folder: Path, shape: Shape = Shape(), seed: int = 0) -> Path:
    """Shards, ``labels.txt`` and ``imagenet_convert.json`` as the converter lays them out; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    splits = {}
    for split, per_class, num_shards in (
        ("train", shape.train_per_class, shape.train_shards),
        ("validation", shape.validation_per_class, shape.validation_shards),
    ):
        records = _split_records(shape, per_class, split == "train", rng)
        shards = _write_shards(folder, split, records, num_shards)
        splits[split] = {"num_examples": len(records), "num_shards": num_shards, "shards": shards}
    labels = ["0:background"] + [
        f"{i}:{name}" for i, name in enumerate(list(COLOURS)[: shape.num_classes], 1)
    ]
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    info = {
        "name": "imagenet2012",
        "format": "tf-slim",
        "num_classes": shape.num_classes + 1,
        "num_leaf_classes": shape.num_classes,
        "splits": splits,
    }
    (folder / filenames.INFO).write_text(json.dumps(info, indent=2))
    return folder


def train_argv(dataset_dir: Path, train_dir: Path, model: str, *extra: str) -> list[str]:
    """``train`` flags for a quick test run: small batches, no periodic saving, quiet logs."""
    return [
        "--dataset_dir", str(dataset_dir), "--train_dir", str(train_dir), "--model_name", model,
        "--batch_size", "2", "--num_readers", "2", "--num_preprocessing_threads", "2",
        "--log_every_n_steps", "0", "--seed", "1", *extra,
    ]  # fmt: skip


def run_steps(args: argparse.Namespace, steps: int, checkpoint: Path | None = None) -> tuple[float, int]:
    """The training graph stepped in a plain session (no checkpoints or event files unless asked):
    returns the last loss and global step."""
    config = tf.compat.v1.ConfigProto()
    config.graph_options.rewrite_options.disable_meta_optimizer = True  # seconds saved per deep net
    with tf.Graph().as_default():
        graph = train.build(args, data.load_split(args.dataset_dir, args.dataset_split_name))
        with tf.compat.v1.Session(config=config) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for _ in range(steps):
                loss, step = session.run(graph.fetches)
            if checkpoint is not None:
                tf.compat.v1.train.Saver().save(session, str(checkpoint), global_step=step)
    return float(loss), int(step)
