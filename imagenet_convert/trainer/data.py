"""tf.data over the converted shards, parsed exactly as Slim's ``datasets/imagenet.py`` parses them.

Split sizes and the number of classes come from the converter's ``imagenet_convert.json``, so epochs (and
with them learning-rate decay) are measured on what was really written, not on ImageNet's constants.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from imagenet_convert.errors import DatasetError, UsageError
from imagenet_convert.format import filenames
from imagenet_convert.format.records import BYTES, FLOATS, INTS, KINDS, SCALARS, SLIM_READER

log = logging.getLogger(__name__)

INFO_FILE = filenames.INFO
# Slim's datasets/imagenet.py, for a folder converted by Slim itself (no imagenet_convert.json).
_SLIM_NUM_CLASSES = 1001
_SLIM_SPLIT_SIZES = {"train": 1281167, "validation": 50000}

Preprocess = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
"""(uint8 image [h, w, 3], boxes [n, 4] as ymin, xmin, ymax, xmax) -> float image [size, size, 3]."""


@dataclass(frozen=True)
class Split:
    """One split of a converted folder: its shard files and sizes."""

    name: str
    files: list[str]
    num_examples: int
    num_classes: int


def _join(folder: str, name: str) -> str:
    """posixpath keeps gs:// and s3:// folders intact; tf.io.gfile reads those and local ones alike."""
    return posixpath.join(folder, name)


def _read_info(dataset_dir: str) -> dict | None:
    """Our metadata, under its name or the one older versions used (where TFDS's may be instead)."""
    for name in filenames.INFO_FILES:
        path = _join(dataset_dir, name)
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                info = json.load(f)
            if name == filenames.INFO or filenames.is_ours(info):
                return info
    return None


def num_classes(dataset_dir: str) -> int:
    """Classes including background, as the models' logits count them."""
    info = _read_info(dataset_dir)
    return _SLIM_NUM_CLASSES if info is None else int(info["num_classes"])


def load_split(dataset_dir: str | None, split: str) -> Split:
    """The split's shards and sizes from our metadata (Slim's constants if the folder lacks it)."""
    if not dataset_dir:
        raise UsageError("You must supply the dataset directory with --dataset_dir")
    info = _read_info(dataset_dir)
    if info is None:
        return _slim_split(dataset_dir, split)
    if split not in info["splits"]:
        raise UsageError(
            f"{dataset_dir}/{INFO_FILE} has no split {split!r}; it has {', '.join(info['splits'])}"
        )
    entry = info["splits"][split]
    files = [_join(dataset_dir, shard["name"]) for shard in entry["shards"]]
    missing = [path for path in files if not tf.io.gfile.exists(path)]
    if missing:
        raise DatasetError(
            f"{len(missing)} shard(s) of {dataset_dir}/{INFO_FILE} are missing, e.g. {missing[0]}; "
            "rerun the conversion into that folder to write them again"
        )
    return Split(split, files, int(entry["num_examples"]), int(info["num_classes"]))


def _slim_split(dataset_dir: str, split: str) -> Split:
    """A folder written by Slim's own ``build_imagenet_data.py``: its files by pattern, ImageNet's sizes."""
    files = sorted(tf.io.gfile.glob(_join(dataset_dir, filenames.shard_pattern(split))))
    if not files or split not in _SLIM_SPLIT_SIZES:
        raise UsageError(f"no {INFO_FILE} and no Slim {split!r} shards in {dataset_dir}")
    log.warning("%s: no %s; assuming Slim's ImageNet sizes", dataset_dir, INFO_FILE)
    return Split(split, files, _SLIM_SPLIT_SIZES[split], _SLIM_NUM_CLASSES)


def read_labels(dataset_dir: str) -> dict[int, str]:
    """``labels.txt`` (``0:background``, ``1:tench, Tinca tinca``, ...) as label -> text."""
    with tf.io.gfile.GFile(_join(dataset_dir, filenames.LABELS)) as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    return {int(label): text for label, text in (line.split(":", 1) for line in lines)}


Feature = tf.io.FixedLenFeature | tf.io.VarLenFeature
_DTYPES = {BYTES: tf.string, INTS: tf.int64, FLOATS: tf.float32}


def feature(key: str, default: bytes | int | None = None) -> Feature:
    """How tf.data parses ``key`` of our records (``KINDS``): a scalar (required unless it has
    a ``default``) or a list, one value per box."""
    dtype = _DTYPES[KINDS[key]]
    if key in SCALARS:
        return tf.io.FixedLenFeature((), dtype, default_value=default)
    return tf.io.VarLenFeature(dtype)


def slim_features() -> dict[str, Feature]:
    """``keys_to_features`` of Slim's ``datasets/imagenet.py``, key for key (``SLIM_READER``)."""
    return {key: feature(key, default) for key, default in SLIM_READER.items()}


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
    """Any stored image (JPEG, and PNG should one slip through) as uint8 RGB: grayscale JPEGs exist."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """One record as Slim's decoder items: image, label, label_text, object/bbox, object/label."""
    features = tf.io.parse_single_example(serialized, slim_features())
    boxes = tf.stack(
        [
            tf.sparse.to_dense(features[f"image/object/bbox/{key}"])
            for key in ("ymin", "xmin", "ymax", "xmax")
        ],
        axis=1,
    )
    return {
        "image": decode_image(features["image/encoded"]),
        "label": features["image/class/label"],
        "label_text": features["image/class/text"],
        "object/bbox": boxes,
        "object/label": tf.sparse.to_dense(features["image/object/class/label"]),
    }


def _examples(
    preprocess: Preprocess, labels_offset: int
) -> Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    def apply(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        item = parse_example(serialized)
        return preprocess(item["image"], item["object/bbox"]), item["label"] - labels_offset

    return apply


def train_batches(
    split: Split,
    preprocess: Preprocess,
    *,
    batch_size: int,
    num_readers: int,
    num_threads: int,
    labels_offset: int,
    seed: int | None,
) -> tf.data.Dataset:
    """Endless shuffled batches: shards in a new order each epoch, ``num_readers`` of them interleaved.

    The record shuffle buffer is Slim's common queue (20 batches).
    """
    files = tf.data.Dataset.from_tensor_slices(split.files).shuffle(len(split.files), seed=seed).repeat()
    records = files.interleave(
        tf.data.TFRecordDataset, cycle_length=num_readers, num_parallel_calls=num_readers
    ).shuffle(20 * batch_size, seed=seed)
    examples = records.map(_examples(preprocess, labels_offset), num_parallel_calls=num_threads)
    return examples.batch(batch_size, drop_remainder=True).prefetch(2)


def eval_batches(
    split: Split, preprocess: Preprocess, *, batch_size: int, num_threads: int, labels_offset: int
) -> tf.data.Dataset:
    """The split once, in file order, the last batch possibly smaller: metrics cover every example."""
    records = tf.data.TFRecordDataset(split.files)
    examples = records.map(_examples(preprocess, labels_offset), num_parallel_calls=num_threads)
    return examples.batch(batch_size).prefetch(2)


def synthetic_batches(
    batch_size: int, image_size: int, num_classes: int, seed: int | None
) -> tf.data.Dataset:
    """One batch of random images in [-1, 1] and random labels, made once and repeated: what the model
    trains on with ``--synthetic_input``, so its speed can be told from the input pipeline's."""

    def batch(_: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        seeds = tf.constant([seed or 0, 0], tf.int64)
        images = tf.random.stateless_uniform([batch_size, image_size, image_size, 3], seeds, -1.0, 1.0)
        labels = tf.random.stateless_uniform([batch_size], seeds + 1, 0, num_classes, tf.int64)
        return images, labels

    return tf.data.Dataset.range(1).map(batch).cache().repeat()
