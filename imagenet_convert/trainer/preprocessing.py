"""Slim's four preprocessing families (VGG, Inception, LeNet, CifarNet), written with today's tf.image ops.

Differences from Slim, on purpose: resizing uses ``tf.image.resize`` (half-pixel centres) instead of the
removed ``resize_bilinear(align_corners=False)``; the Inception training crop is sampled around the
records' bounding boxes (Slim's train script never passed them); ``resnet_v2_*`` get Inception
preprocessing, with which Slim's ResNet-v2 checkpoints were trained (Slim's factory maps them to VGG's:
``--preprocessing_name vgg`` restores that). Names absent from Slim's factory get their family's:
``alexnet_v2`` and ``overfeat`` VGG's, the narrower ``mobilenet_v1_*`` Inception's, ``nasnet_cifar``
CifarNet's. The family of each model name is in ``nets_factory.ARCHITECTURES``.

LeNet's and CifarNet's crop (or pad) the image to their 28 or 32 px without resizing it, as Slim's do:
on full-size ImageNet images they see a small central (LeNet) or random (CifarNet) patch.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from imagenet_convert.trainer import nets_factory

_VGG_MEANS = (123.68, 116.78, 103.94)
_VGG_RESIZE_SIDE_MIN = 256
_VGG_RESIZE_SIDE_MAX = 512
_INCEPTION_CENTRAL_FRACTION = 0.875

Preprocessor = Callable[[tf.Tensor, tf.Tensor, int, int], tf.Tensor]
"""(uint8 image [h, w, 3], boxes [n, 4], height, width) -> float image [height, width, 3]."""


def _smallest_side_resize(image: tf.Tensor, smallest_side: tf.Tensor | int) -> tf.Tensor:
    """Scale so that the shorter side is ``smallest_side``, keeping the aspect ratio (float output)."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(smallest_side, tf.float32) / tf.reduce_min(shape)
    new_shape = tf.cast(tf.math.rint(shape * scale), tf.int32)
    return tf.image.resize(image, new_shape, method="bilinear")


def vgg_train(image: tf.Tensor, boxes: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Shorter side to a random length in [256, 512], random crop, random flip, minus the RGB means."""
    del boxes  # VGG's training crop ignores them, as in Slim
    side = tf.random.uniform([], _VGG_RESIZE_SIDE_MIN, _VGG_RESIZE_SIDE_MAX + 1, dtype=tf.int32)
    image = tf.image.random_crop(_smallest_side_resize(image, side), [height, width, 3])
    return tf.image.random_flip_left_right(image) - _VGG_MEANS


def vgg_eval(image: tf.Tensor, boxes: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Shorter side to 256, central crop, minus the RGB means."""
    del boxes
    image = tf.image.resize_with_crop_or_pad(
        _smallest_side_resize(image, _VGG_RESIZE_SIDE_MIN), height, width
    )
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


def inception_train(image: tf.Tensor, boxes: tf.Tensor, height: int, width: int) -> tf.Tensor:
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
    image = tf.image.random_flip_left_right(tf.image.resize(image, [height, width], method="bilinear"))
    return _to_unit_range(_distort_color(image))


def inception_eval(image: tf.Tensor, boxes: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """The central 87.5% of the image, resized, scaled to [-1, 1]."""
    del boxes
    image = tf.image.central_crop(
        tf.image.convert_image_dtype(image, tf.float32), _INCEPTION_CENTRAL_FRACTION
    )
    return _to_unit_range(tf.image.resize(image, [height, width], method="bilinear"))


def lenet_preprocess(image: tf.Tensor, boxes: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """The central (or padded) window of the output size, scaled to [-1, 1); training and evaluation alike."""
    del boxes
    window = tf.image.resize_with_crop_or_pad(tf.cast(image, tf.float32), height, width)
    return (window - 128.0) / 128.0


_CIFARNET_PADDING = 4


def cifarnet_train(image: tf.Tensor, boxes: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Pad by 4, a random window, flip, brightness and contrast, then per-image standardisation."""
    del boxes
    padding = [[_CIFARNET_PADDING, _CIFARNET_PADDING], [_CIFARNET_PADDING, _CIFARNET_PADDING], [0, 0]]
    window = tf.image.random_crop(tf.pad(tf.cast(image, tf.float32), padding), [height, width, 3])
    window = tf.image.random_brightness(tf.image.random_flip_left_right(window), max_delta=63)
    return tf.image.per_image_standardization(tf.image.random_contrast(window, lower=0.2, upper=1.8))


def cifarnet_eval(image: tf.Tensor, boxes: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """The central (or padded) window, standardised per image."""
    del boxes
    window = tf.image.resize_with_crop_or_pad(tf.cast(image, tf.float32), height, width)
    return tf.image.per_image_standardization(window)


FAMILIES: dict[str, tuple[Preprocessor, Preprocessor]] = {
    "vgg": (vgg_train, vgg_eval),
    "inception": (inception_train, inception_eval),
    "lenet": (lenet_preprocess, lenet_preprocess),
    "cifarnet": (cifarnet_train, cifarnet_eval),
}


def family(name: str) -> str:
    """A family's name, or the family of a model name (``nets_factory.ARCHITECTURES``)."""
    if name in FAMILIES:
        return name
    if name in nets_factory.ARCHITECTURES:
        return nets_factory.ARCHITECTURES[name].preprocessing
    known = [*FAMILIES, *nets_factory.ARCHITECTURES]
    raise ValueError(f"unknown preprocessing {name!r}; known: {', '.join(known)}")


def get_preprocessing(name: str, is_training: bool) -> Preprocessor:
    """A model or family name to its training or evaluation function."""
    train, evaluate = FAMILIES[family(name)]
    return train if is_training else evaluate
