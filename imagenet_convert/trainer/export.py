"""``export``: a checkpoint as a SavedModel that classifies JPEG bytes, as Slim's
``export_inference_graph.py`` gave a frozen graph in its day.

Two signatures share the weights: ``serving_default`` takes ``jpeg_bytes`` (a batch of encoded images,
JPEG or PNG) and ``images`` takes decoded uint8 RGB images. Both apply the model's evaluation
preprocessing and return ``probabilities`` over the model's classes and the top 5 as dataset labels
(``top_5_classes``, numbered as in ``labels.txt``), ``top_5_probabilities`` and ``top_5_texts``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf
import tf_slim as slim

from imagenet_convert.errors import UsageError
from imagenet_convert.trainer import checkpoints, data, flags, nets_factory, preprocessing
from imagenet_convert.trainer.evaluate import restorer

JPEG_SIGNATURE = "serving_default"
IMAGES_SIGNATURE = "images"
TOP_K = 5


class Prediction(NamedTuple):
    """One of an image's top classes."""

    label: int
    text: str
    probability: float


def class_texts(dataset_dir: str | None, num_classes: int, labels_offset: int) -> list[str]:
    """Text of each model output: ``labels.txt``'s line for label ``output + labels_offset``."""
    labels = data.read_labels(dataset_dir) if dataset_dir else {}
    return [labels.get(i + labels_offset, str(i + labels_offset)) for i in range(num_classes)]


def _classifier(args: argparse.Namespace, texts: list[str]) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    """Preprocessed batch -> the signature outputs; each call reuses the same variables."""
    network = nets_factory.get_network_fn(args.model_name, len(texts), 0.0, is_training=False)
    k = min(TOP_K, len(texts))

    def classify(images: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(), reuse=tf.compat.v1.AUTO_REUSE):
            logits, _ = network(images)
        probabilities = tf.nn.softmax(logits)
        top = tf.math.top_k(probabilities, k=k)
        return {
            "probabilities": probabilities,
            "top_5_classes": tf.cast(top.indices, tf.int64) + args.labels_offset,
            "top_5_probabilities": top.values,
            "top_5_texts": tf.gather(tf.constant(texts), top.indices),
        }

    return classify


def _preprocessed(images: tf.Tensor, preprocess: Callable[[tf.Tensor], tf.Tensor]) -> tf.Tensor:
    return tf.map_fn(preprocess, images, fn_output_signature=tf.float32)


def _signatures(
    args: argparse.Namespace, texts: list[str]
) -> dict[str, tf.compat.v1.saved_model.SignatureDef]:
    """Both signatures, built in the default graph."""
    preprocess = preprocessing.get_preprocessing(
        args.preprocessing_name or args.model_name, is_training=False
    )
    size = args.image_size or nets_factory.architecture(args.model_name).default_image_size
    no_boxes = tf.zeros([0, 4])
    classify = _classifier(args, texts)
    jpeg = tf.compat.v1.placeholder(tf.string, [None], name="jpeg_bytes")
    images = tf.compat.v1.placeholder(tf.uint8, [None, None, None, 3], name="images")
    from_jpeg = _preprocessed(
        jpeg, lambda encoded: preprocess(data.decode_image(encoded), no_boxes, size, size)
    )
    from_images = _preprocessed(images, lambda image: preprocess(image, no_boxes, size, size))
    signature = tf.compat.v1.saved_model.predict_signature_def
    return {
        JPEG_SIGNATURE: signature({"jpeg_bytes": jpeg}, classify(from_jpeg)),
        IMAGES_SIGNATURE: signature({"images": images}, classify(from_images)),
    }


def export(args: argparse.Namespace) -> str:
    """Write the SavedModel; returns its folder."""
    if tf.io.gfile.exists(args.output_dir):
        raise UsageError(f"--output_dir {args.output_dir} already exists")
    checkpoint = checkpoints.resolve(args.checkpoint_path)
    num_classes = args.num_classes or (data.num_classes(args.dataset_dir) if args.dataset_dir else 1001)
    texts = class_texts(args.dataset_dir, num_classes - args.labels_offset, args.labels_offset)
    with tf.Graph().as_default():
        signatures = _signatures(args, texts)
        saver = restorer(args.moving_average_decay, None)
        checkpoints.require_shapes(checkpoint, slim.get_model_variables())
        with tf.compat.v1.Session() as session:
            saver.restore(session, checkpoint)
            builder = tf.compat.v1.saved_model.Builder(args.output_dir)
            builder.add_meta_graph_and_variables(
                session, [tf.compat.v1.saved_model.tag_constants.SERVING], signature_def_map=signatures
            )
            builder.save()
    print(f"Exported {checkpoint} to {args.output_dir}")
    return args.output_dir


def classify(saved_model_dir: str, jpegs: list[bytes]) -> list[list[Prediction]]:
    """The top classes of each encoded image, through an exported model."""
    serve = tf.saved_model.load(saved_model_dir).signatures[JPEG_SIGNATURE]
    outputs = serve(jpeg_bytes=tf.constant(jpegs))
    columns = (outputs[key].numpy() for key in ("top_5_classes", "top_5_texts", "top_5_probabilities"))
    return [
        [Prediction(int(label), text.decode(), float(p)) for label, text, p in zip(*row, strict=True)]
        for row in zip(*columns, strict=True)
    ]


def predict(saved_model_dir: str, jpeg_bytes: bytes) -> list[tuple[str, float]]:
    """One image's top 5 as (class text, probability), best first: what the demo prints."""
    return [(p.text, p.probability) for p in classify(saved_model_dir, [jpeg_bytes])[0]]


def main(argv: list[str]) -> int:
    """``python -m imagenet_convert export --model_name ... --checkpoint_path ... --output_dir ...``."""
    return flags.run_command(export, flags.export_parser().parse_args(argv))
