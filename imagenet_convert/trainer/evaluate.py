"""``evaluate``: Slim's ``eval_image_classifier.py``: top-1, top-5 and loss of a checkpoint on a split.

Unlike Slim, which repeats examples to fill its last batch, every example is counted exactly once.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tf_slim as slim

from imagenet_convert.errors import UsageError
from imagenet_convert.trainer import checkpoints, data, flags, nets_factory, preprocessing


@dataclass(frozen=True)
class Evaluation:
    """The metrics, and each example's top-1 class (in file order, labels after ``--labels_offset``)."""

    checkpoint: str
    global_step: int
    top1: float
    top5: float
    loss: float
    predictions: np.ndarray

    @property
    def num_examples(self) -> int:
        return len(self.predictions)


@dataclass(frozen=True)
class _Batch:
    predictions: tf.Tensor
    in_top5: tf.Tensor
    losses: tf.Tensor
    correct: tf.Tensor


def _batch(args: argparse.Namespace, split: data.Split) -> _Batch:
    """The evaluation graph over one batch from the split, in the default graph."""
    arch = nets_factory.architecture(args.model_name)
    size = args.eval_image_size or arch.default_image_size
    preprocess = preprocessing.get_preprocessing(
        args.preprocessing_name or args.model_name, is_training=False
    )
    batches = data.eval_batches(
        split,
        lambda image, boxes: preprocess(image, boxes, size, size),
        batch_size=args.batch_size,
        num_threads=args.num_preprocessing_threads,
        labels_offset=args.labels_offset,
    )
    images, labels = tf.compat.v1.data.make_one_shot_iterator(batches).get_next()
    network = nets_factory.get_network_fn(
        args.model_name, split.num_classes - args.labels_offset, 0.0, is_training=False
    )
    logits, _ = network(images)
    predictions = tf.argmax(logits, 1)
    return _Batch(
        predictions=predictions,
        in_top5=tf.nn.in_top_k(targets=labels, predictions=logits, k=5),
        losses=tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
        correct=tf.equal(predictions, labels),
    )


def restorer(moving_average_decay: float | None, global_step: tf.Variable | None) -> tf.compat.v1.train.Saver:
    """Restore the model variables, or their moving averages when ``--moving_average_decay`` is set."""
    if not moving_average_decay:
        return tf.compat.v1.train.Saver(slim.get_variables_to_restore())
    averages = tf.compat.v1.train.ExponentialMovingAverage(moving_average_decay)
    names = averages.variables_to_restore(slim.get_model_variables())
    if global_step is not None:
        names[global_step.op.name] = global_step
    return tf.compat.v1.train.Saver(names)


def _write_summary(eval_dir: str, evaluation: Evaluation) -> None:
    """Slim's metric names in an event file of ``--eval_dir`` (FileWriter needs a graph context)."""
    values = {
        "eval/Accuracy": evaluation.top1,
        "eval/Recall_5": evaluation.top5,
        "eval/Loss": evaluation.loss,
    }
    summary = tf.compat.v1.Summary(
        value=[tf.compat.v1.Summary.Value(tag=tag, simple_value=value) for tag, value in values.items()]
    )
    with tf.Graph().as_default():
        writer = tf.compat.v1.summary.FileWriter(eval_dir)
        writer.add_summary(summary, evaluation.global_step)
        writer.close()


def evaluate(args: argparse.Namespace) -> Evaluation:
    """Evaluate the checkpoint on the split (or its first ``--max_num_batches`` batches)."""
    split = data.load_split(args.dataset_dir, args.dataset_split_name)
    checkpoint = checkpoints.resolve(args.checkpoint_path)
    with tf.Graph().as_default():
        global_step = tf.compat.v1.train.get_or_create_global_step()
        batch = _batch(args, split)
        saver = restorer(args.moving_average_decay, global_step)
        checkpoints.require_shapes(checkpoint, slim.get_model_variables())
        with tf.compat.v1.Session(args.master) as session:
            saver.restore(session, checkpoint)
            step = int(session.run(global_step))
            results = _run(session, batch, args.max_num_batches)
    predictions, correct, in_top5, losses = (np.concatenate(column) for column in zip(*results, strict=True))
    evaluation = Evaluation(checkpoint, step, correct.mean(), in_top5.mean(), losses.mean(), predictions)
    _write_summary(args.eval_dir, evaluation)
    return evaluation


def _run(
    session: tf.compat.v1.Session, batch: _Batch, max_batches: int | None
) -> list[tuple[np.ndarray, ...]]:
    fetches = (batch.predictions, batch.correct, batch.in_top5, batch.losses)
    results = []
    while max_batches is None or len(results) < max_batches:
        try:
            results.append(session.run(fetches))
        except tf.errors.OutOfRangeError:
            break
    if not results:
        raise UsageError("the split has no examples to evaluate")
    return results


def report(evaluation: Evaluation, split_name: str) -> str:
    """Slim's metric lines, under a line saying what was evaluated."""
    return "\n".join(
        [
            f"Evaluated {evaluation.checkpoint} (global step {evaluation.global_step}) "
            f"on {evaluation.num_examples} {split_name} examples",
            f"eval/Accuracy[{evaluation.top1:.4f}]",
            f"eval/Recall_5[{evaluation.top5:.4f}]",
            f"eval/Loss[{evaluation.loss:.4f}]",
        ]
    )


def _evaluate_and_print(args: argparse.Namespace) -> Evaluation:
    evaluation = evaluate(args)
    print(report(evaluation, args.dataset_split_name))
    return evaluation


def main(argv: list[str]) -> int:
    """``python -m imagenet_convert evaluate [Slim's eval_image_classifier flags]``."""
    return flags.run_command(_evaluate_and_print, flags.eval_parser().parse_args(argv))
