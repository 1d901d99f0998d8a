"""Slim's ``preprocessing_factory``, so that code written against Slim switches by changing an import::

    from imagenet_convert.trainer import preprocessing_factory
    preprocess = preprocessing_factory.get_preprocessing("inception_v4", is_training=True)
    image = preprocess(image, 299, 299, bbox=boxes)  # uint8 [h, w, 3]; boxes [1, n, 4] or None

The functions are this project's (``preprocessing.py``, whose docstring lists where they differ from
Slim's); this module gives them Slim's call signature.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from imagenet_convert.trainer import preprocessing

SlimPreprocessor = Callable[..., tf.Tensor]

# Slim's keyword arguments that change nothing here: summaries are not written by preprocessing, colour
# distortion is always Slim's fast mode, and VGG's resize range is Slim's default.
_ACCEPTED = frozenset(
    {"add_image_summaries", "fast_mode", "resize_side_min", "resize_side_max", "use_grayscale"}
)


def get_preprocessing(name: str, is_training: bool = False) -> SlimPreprocessor:
    """``preprocessing_fn(image, output_height, output_width, bbox=None)`` for a model or family name."""
    function = preprocessing.get_preprocessing(name, is_training)

    def preprocessing_fn(
        image: tf.Tensor,
        output_height: int,
        output_width: int,
        bbox: tf.Tensor | None = None,
        **kwargs: object,
    ) -> tf.Tensor:
        unknown = set(kwargs) - _ACCEPTED
        if unknown:
            raise TypeError(f"preprocessing_fn got unexpected keyword arguments {sorted(unknown)}")
        boxes = tf.zeros([0, 4]) if bbox is None else tf.reshape(tf.cast(bbox, tf.float32), [-1, 4])
        return function(tf.convert_to_tensor(image), boxes, output_height, output_width)

    return preprocessing_fn
