"""Reading the shards as Slim's imagenet.py does, and Slim's two preprocessing families."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from imagenet_convert.errors import DatasetError, UsageError
from imagenet_convert.format import filenames
from imagenet_convert.trainer import data, preprocessing, preprocessing_factory
from tests.support.trainer import Shape, jpeg, slim_example, write_dataset

SLIM_KEYS = {
    "image/encoded": "fixed string", "image/format": "fixed string", "image/class/label": "fixed int64",
    "image/class/text": "fixed string", "image/object/bbox/xmin": "var float32",
    "image/object/bbox/ymin": "var float32", "image/object/bbox/xmax": "var float32",
    "image/object/bbox/ymax": "var float32", "image/object/class/label": "var int64",
}  # fmt: skip


def _kind(feature: tf.io.FixedLenFeature | tf.io.VarLenFeature) -> str:
    fixed = isinstance(feature, tf.io.FixedLenFeature)
    return f"{'fixed' if fixed else 'var'} {feature.dtype.name}"


def test_parse_spec_is_slims() -> None:
    assert {key: _kind(feature) for key, feature in data.slim_features().items()} == SLIM_KEYS


def test_grayscale_and_png_records_decode_to_three_channels_with_boxes_in_slims_order() -> None:
    rng = np.random.default_rng(0)
    png = io.BytesIO()
    Image.new("RGB", (6, 4), (10, 20, 30)).save(png, format="PNG")
    records = [
        slim_example(jpeg((90, 90, 90), rng, 4, 6, mode="L"), 3, "gray", 4, 6, [(0.1, 0.2, 0.3, 0.4)]),
        slim_example(png.getvalue(), 2, "png", 4, 6, []),
    ]
    gray, colour = (data.parse_example(tf.constant(record)) for record in records)
    assert gray["image"].shape == (4, 6, 3) and colour["image"].shape == (4, 6, 3)
    assert colour["image"].numpy()[0, 0].tolist() == [10, 20, 30]
    np.testing.assert_allclose(gray["object/bbox"].numpy(), [[0.2, 0.1, 0.4, 0.3]])  # ymin, xmin, ymax, xmax
    assert gray["object/label"].numpy().tolist() == [3] and gray["label_text"].numpy() == b"gray"
    assert colour["object/bbox"].shape == (0, 4) and int(colour["label"]) == 2


def test_split_sizes_and_classes_come_from_our_metadata(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path, Shape(num_classes=3, validation_per_class=5, validation_shards=2))
    split = data.load_split(str(folder), "validation")
    assert (split.num_examples, split.num_classes) == (15, 4)
    assert [Path(f).name for f in split.files] == ["validation-00000-of-00002", "validation-00001-of-00002"]
    assert data.read_labels(str(folder)) == {0: "background", 1: "red", 2: "green", 3: "blue"}
    assert data.num_classes(str(folder)) == 4


def test_a_missing_split_is_a_usage_error_and_a_missing_shard_a_dataset_error(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path, Shape(num_classes=2))
    with pytest.raises(UsageError, match="no split 'test'"):
        data.load_split(str(folder), "test")
    (folder / "train-00001-of-00002").unlink()
    with pytest.raises(DatasetError, match="missing"):
        data.load_split(str(folder), "train")


def test_a_folder_from_slims_own_converter_gets_imagenets_sizes(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path, Shape(num_classes=2))
    (folder / filenames.INFO).unlink()
    split = data.load_split(str(folder), "train")
    assert (split.num_examples, split.num_classes, len(split.files)) == (1281167, 1001, 2)


def test_our_metadata_under_its_old_name_is_read_but_tfdss_is_not_ours(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path, Shape(num_classes=3, validation_per_class=5))
    (folder / filenames.INFO).replace(folder / filenames.LEGACY_INFO)
    assert data.load_split(str(folder), "validation").num_examples == 15
    tfds_info = {"name": "imagenet2012", "fileFormat": "tfrecord"}
    (folder / filenames.LEGACY_INFO).write_text(json.dumps(tfds_info))
    assert data.load_split(str(folder), "validation").num_examples == 50000  # Slim's constant


def _constant(rgb: tuple[int, int, int], height: int = 30, width: int = 40) -> tf.Tensor:
    return tf.constant(np.full((height, width, 3), rgb, np.uint8))


def test_eval_batches_cover_every_example_once_with_offset_labels(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path, Shape(num_classes=3, validation_per_class=5))
    split = data.load_split(str(folder), "validation")
    batches = list(
        data.eval_batches(
            split,
            lambda image, boxes: preprocessing.vgg_eval(image, boxes, 8, 8),
            batch_size=4,
            num_threads=2,
            labels_offset=1,
        )
    )
    assert [len(labels) for _, labels in batches] == [4, 4, 4, 3]
    labels = np.concatenate([labels.numpy() for _, labels in batches])
    assert sorted(labels.tolist()) == sorted([0, 1, 2] * 5)
    assert batches[0][0].shape == (4, 8, 8, 3)


def test_train_batches_repeat_and_keep_full_batches(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path, Shape(num_classes=2, train_per_class=3))
    split = data.load_split(str(folder), "train")
    dataset = data.train_batches(
        split,
        lambda image, boxes: preprocessing.inception_train(image, boxes, 16, 16),
        batch_size=4,
        num_readers=2,
        num_threads=2,
        labels_offset=0,
        seed=3,
    )
    shapes = [images.shape for images, _ in dataset.take(5)]  # 20 examples from 6: several epochs
    assert shapes == [(4, 16, 16, 3)] * 5


@pytest.mark.parametrize(
    ("name", "family"),
    [("vgg_16", "vgg"), ("resnet_v1_50", "vgg"), ("alexnet_v2", "vgg"), ("overfeat", "vgg"), ("vgg", "vgg"),
     ("inception_v3", "inception"), ("inception", "inception"), ("resnet_v2_101", "inception"),
     ("mobilenet_v1_025", "inception"), ("nasnet_large", "inception"), ("vgg_416", "vgg"),
     ("lenet", "lenet"), ("cifarnet", "cifarnet"), ("nasnet_cifar", "cifarnet")],
)  # fmt: skip
def test_preprocessing_is_chosen_by_name(name: str, family: str) -> None:
    assert preprocessing.get_preprocessing(name, is_training=False) is preprocessing.FAMILIES[family][1]
    assert preprocessing.get_preprocessing(name, is_training=True) is preprocessing.FAMILIES[family][0]


def test_unknown_preprocessing_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown preprocessing 'lenet_v9'"):
        preprocessing.get_preprocessing("lenet_v9", is_training=True)


def test_vgg_subtracts_the_rgb_means() -> None:
    no_boxes = tf.zeros([0, 4])
    for function in (preprocessing.vgg_eval, preprocessing.vgg_train):
        out = function(_constant((200, 100, 50)), no_boxes, 24, 24).numpy()
        assert out.shape == (24, 24, 3)
        np.testing.assert_allclose(out, np.broadcast_to([76.32, -16.78, -53.94], out.shape), atol=1e-3)


def test_inception_eval_scales_to_minus_one_one() -> None:
    out = preprocessing.inception_eval(_constant((255, 0, 51)), tf.zeros([0, 4]), 20, 20).numpy()
    assert out.shape == (20, 20, 3)
    np.testing.assert_allclose(out, np.broadcast_to([1.0, -1.0, -0.6], out.shape), atol=1e-5)


def test_inception_training_crops_around_the_records_box() -> None:
    """A white square of 1% of a black image: every crop keeps at least 10% of it when it is the box."""
    pixels = np.zeros((100, 100, 3), np.uint8)
    pixels[45:55, 45:55] = 255
    image, box = tf.constant(pixels), tf.constant([[0.45, 0.45, 0.55, 0.55]])
    tf.random.set_seed(0)
    crops = [preprocessing.inception_train(image, box, 32, 32).numpy() for _ in range(30)]
    assert all(crop.shape == (32, 32, 3) and crop.min() >= -1.0 and crop.max() <= 1.0 for crop in crops)
    assert all(crop.max() > -0.5 for crop in crops)  # brighter than any brightness-shifted black
    tf.random.set_seed(0)  # one CI run saw 30 whole-image crops all hit the square: draw more
    without_box = [preprocessing.inception_train(image, tf.zeros([0, 4]), 32, 32).numpy() for _ in range(100)]
    assert any(crop.max() <= -0.5 for crop in without_box)  # whole-image sampling misses the square


def test_lenet_and_cifarnet_take_a_central_window() -> None:
    """Slim's LeNet and CifarNet evaluation crop (or pad) without resizing: 28 px of a 40 px image."""
    pixels = np.full((40, 40, 3), 0, np.uint8)
    pixels[6:34, 6:34] = 255
    lenet = preprocessing.lenet_preprocess(tf.constant(pixels), tf.zeros([0, 4]), 28, 28).numpy()
    np.testing.assert_allclose(lenet, np.full((28, 28, 3), 127 / 128), atol=1e-6)
    cifar = preprocessing.cifarnet_eval(tf.constant(pixels), tf.zeros([0, 4]), 32, 32).numpy()
    assert cifar.shape == (32, 32, 3) and abs(cifar.mean()) < 1e-5 and abs(cifar.std() - 1) < 1e-3


def test_slim_signature_of_the_preprocessing_factory() -> None:
    """``preprocessing_fn(image, height, width, bbox=...)`` as Slim's factory returns it, non-square too."""
    preprocess = preprocessing_factory.get_preprocessing("inception_v4", is_training=True)
    image = tf.constant(np.full((50, 70, 3), 128, np.uint8))
    out = preprocess(image, 24, 32, bbox=tf.constant([[[0.1, 0.1, 0.9, 0.9]]]), fast_mode=True)
    assert out.shape == (24, 32, 3)
    assert preprocessing_factory.get_preprocessing("vgg_416")(image, 20, 20).shape == (20, 20, 3)
    with pytest.raises(TypeError, match="colour"):
        preprocess(image, 24, 24, colour=True)
