"""Slim's two preprocessing families, VGG and Inception, written with today's ``tf.image`` ops.

Differences from Slim, on purpose: resizing uses ``tf.image.resize`` (half-pixel centres) instead of the
removed ``resize_bilinear(align_corners=False)``; the Inception training crop is sampled around the
records' bounding boxes (Slim's train script never passed them); ``resnet_v2_*`` get Inception
preprocessing, with which Slim's ResNet-v2 checkpoints were trained (Slim's factory maps them to VGG's:
``--preprocessing_name vgg`` restores that); ``alexnet_v2`` and ``overfeat``, absent from Slim's factory,
get VGG's.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

_VGG_MEANS = (123.68, 116.78, 103.94)
_VGG_RESIZE_SIDE_MIN = 256
_VGG_RESIZE_SIDE_MAX = 512
_INCEPTION_CENTRAL_FRACTION = 0.875

Preprocessor = Callable[[tf.Tensor, tf.Tensor, int], tf.Tensor]
"""(uint8 image [h, w, 3], boxes [n, 4], output size) -> float image [size, size, 3]."""


def _smallest_side_resize(image: tf.Tensor, smallest_side: tf.Tensor | int) -> tf.Tensor:
    """Scale so that the shorter side is ``smallest_side``, keeping the aspect ratio (float output)."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(smallest_side, tf.float32) / tf.reduce_min(shape)
    new_shape = tf.cast(tf.math.rint(shape * scale), tf.int32)
    return tf.image.resize(image, new_shape, method="bilinear")


def vgg_train(image: tf.Tensor, boxes: tf.Tensor, size: int) -> tf.Tensor:
    """Shorter side to a random length in [256, 512], random crop, random flip, minus the RGB means."""
    del boxes  # VGG's training crop ignores them, as in Slim
    side = tf.random.uniform([], _VGG_RESIZE_SIDE_MIN, _VGG_RESIZE_SIDE_MAX + 1, dtype=tf.int32)
    image = tf.image.random_crop(_smallest_side_resize(image, side), [size, size, 3])
    return tf.image.random_flip_left_right(image) - _VGG_MEANS


def vgg_eval(image: tf.Tensor, boxes: tf.Tensor, size: int) -> tf.Tensor:
    """Shorter side to 256, central crop, minus the RGB means."""
    del boxes
    image = tf.image.resize_with_crop_or_pad(_smallest_side_resize(image, _VGG_RESIZE_SIDE_MIN), size, size)
    return image - _VGG_MEANS


def _distort_color(image: tf.Tensor) -> tf.Tensor:
    """Slim's fast-mode colour distortion: brightness and saturation in one of two orders.

    Slim draws one of four orderings, of which fast mode distinguishes only the first from the rest.
    """

    def brightness_first() -> tf.Tensor:
        return tf.image.random_saturation(tf.image.random_brightness(image, 32.0 / 255.0), 0.5, 1.5)

    def saturation_first() -> tf.Tensor:
        return tf.image.random_brightness(tf.image.random_saturation(image, 0.5, 1.5), 32.0 / 255.0)

    ordering = tf.random.uniform([], 0, 4, dtype=tf.int32)
    return tf.clip_by_value(tf.cond(tf.equal(ordering, 0), brightness_first, saturation_first), 0.0, 1.0)


def _to_unit_range(image: tf.Tensor) -> tf.Tensor:
    return (image - 0.5) * 2.0


def inception_train(image: tf.Tensor, boxes: tf.Tensor, size: int) -> tf.Tensor:
    """A random crop covering at least 10% of a box (the whole image if none), flip, colour, [-1, 1]."""
    image = tf.image.convert_image_dtype(image, tf.float32)
    begin, crop_size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.expand_dims(boxes, 0),
        min_object_covered=0.1,
        aspect_ratio_range=(0.75, 1.33),
        area_range=(0.05, 1.0),
        max_attempts=100,
        use_image_if_no_bounding_boxes=True,
    )
    image = tf.slice(image, begin, crop_size)
    image.set_shape([None, None, 3])
    image = tf.image.random_flip_left_right(tf.image.resize(image, [size, size], method="bilinear"))
    return _to_unit_range(_distort_color(image))


def inception_eval(image: tf.Tensor, boxes: tf.Tensor, size: int) -> tf.Tensor:
    """The central 87.5% of the image, resized, scaled to [-1, 1]."""
    del boxes
    image = tf.image.central_crop(
        tf.image.convert_image_dtype(image, tf.float32), _INCEPTION_CENTRAL_FRACTION
    )
    return _to_unit_range(tf.image.resize(image, [size, size], method="bilinear"))


_FAMILIES: dict[str, tuple[Preprocessor, Preprocessor]] = {
    "vgg": (vgg_train, vgg_eval),
    "inception": (inception_train, inception_eval),
}
_FAMILY_BY_NAME = {
    "vgg": "vgg",
    "vgg_a": "vgg",
    "vgg_16": "vgg",
    "vgg_19": "vgg",
    "alexnet_v2": "vgg",
    "overfeat": "vgg",
    "inception": "inception",
    "inception_v1": "inception",
    "inception_v2": "inception",
    "inception_v3": "inception",
    **{f"resnet_v1_{depth}": "vgg" for depth in (50, 101, 152, 200)},
    **{f"resnet_v2_{depth}": "inception" for depth in (50, 101, 152, 200)},
}


def get_preprocessing(name: str, is_training: bool) -> Preprocessor:
    """Slim's ``preprocessing_factory.get_preprocessing``: a model or family name to its function."""
    if name not in _FAMILY_BY_NAME:
        raise ValueError(f"unknown preprocessing {name!r}; known: {', '.join(_FAMILY_BY_NAME)}")
    train, evaluate = _FAMILIES[_FAMILY_BY_NAME[name]]
    return train if is_training else evaluate
