"""The command-line flags of Slim's train, eval and export scripts, under the same names and defaults.

Parsed with argparse rather than absl so that each ``main(argv)`` can be called repeatedly from Python;
booleans still accept absl's spellings (``--clone_on_cpu``, ``--noclone_on_cpu``, ``--clone_on_cpu=false``).
Importing it does not load TensorFlow, so ``--verbose`` is read before TensorFlow's start-up lines.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from imagenet_convert.errors import Failed, UsageError
from imagenet_convert.trainer import memory, nets_factory

_QUANTIZE = "quantization-aware training used tf.contrib.quantize, which TensorFlow 2 no longer has"


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "t", "1", "yes"):
        return True
    if lowered in ("false", "f", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_bool(parser: argparse.ArgumentParser, name: str, default: bool, help_text: str) -> None:
    """absl's boolean flag: ``--name``, ``--name=false`` and ``--noname``."""
    parser.add_argument(f"--{name}", type=_bool, nargs="?", const=True, default=default, help=help_text)
    parser.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    """Flags the three commands share, with Slim's defaults."""
    parser.add_argument(
        "--model_name",
        default="inception_v3",
        choices=list(nets_factory.ARCHITECTURES),
        metavar="NAME",
        help="the architecture, by Slim's name: " + ", ".join(nets_factory.ARCHITECTURES),
    )
    parser.add_argument(
        "--preprocessing_name",
        default=None,
        choices=[*nets_factory.FAMILIES, *nets_factory.ARCHITECTURES],
        metavar="NAME",
        help="vgg, inception, lenet, cifarnet or a model name; default: --model_name's, as Slim's factory "
        "maps it, except resnet_v2_* (Inception's, with which Slim's ResNet-v2 checkpoints were trained; "
        "'vgg' is Slim's choice) and names Slim's factory lacks (alexnet_v2, overfeat: vgg; "
        "mobilenet_v1_0xx: inception; nasnet_cifar: cifarnet)",
    )
    parser.add_argument(
        "--labels_offset",
        type=int,
        default=0,
        help="subtracted from the dataset's labels; 1 for VGG and ResNet-v1, which have no background class",
    )
    parser.add_argument(
        "--moving_average_decay",
        type=float,
        default=None,
        help="decay of the moving average of the weights; unset: no moving averages",
    )


def _add_dataset_flags(parser: argparse.ArgumentParser, split: str) -> None:
    parser.add_argument("--dataset_name", default="imagenet", help="only 'imagenet' (the converted shards)")
    parser.add_argument("--dataset_split_name", default=split, help=f"the split to read ({split})")
    parser.add_argument("--dataset_dir", default=None, help="folder of the shards and imagenet_convert.json")
    parser.add_argument("--batch_size", type=int, default=32 if split == "train" else 100)
    parser.add_argument(
        "--num_preprocessing_threads", type=int, default=4, help="parallel decode and preprocessing calls"
    )


def train_parser() -> argparse.ArgumentParser:
    """Every flag of Slim's ``train_image_classifier.py`` (log_every_n_steps defaults to 5), and --seed."""
    p = argparse.ArgumentParser(
        prog="python -m imagenet_convert train",
        description="Train a TF-Slim model on converted shards, with Slim's train_image_classifier.py flags.",
    )
    _add_model_flags(p)
    _add_dataset_flags(p, "train")
    p.add_argument("--train_dir", default="/tmp/tfmodel/", help="checkpoints and event files go here")
    p.add_argument("--num_clones", type=int, default=1, help="in-graph model replicas, gradients averaged")
    _add_bool(p, "clone_on_cpu", False, "place the clones on the CPU instead of one GPU each")
    p.add_argument("--num_readers", type=int, default=4, help="shards read in parallel")
    p.add_argument("--log_every_n_steps", type=int, default=5)
    p.add_argument("--save_summaries_secs", type=int, default=600)
    p.add_argument("--save_interval_secs", type=int, default=600, help="seconds between checkpoints")
    p.add_argument("--max_number_of_steps", type=int, default=None, help="stop at this global step")
    p.add_argument("--train_image_size", type=int, default=None, help="default: the model's own size")
    p.add_argument("--weight_decay", type=float, default=0.00004)
    p.add_argument("--label_smoothing", type=float, default=0.0)
    p.add_argument(
        "--optimizer",
        default="rmsprop",
        choices=("adadelta", "adagrad", "adam", "ftrl", "momentum", "rmsprop", "sgd"),
    )
    p.add_argument("--adadelta_rho", type=float, default=0.95)
    p.add_argument("--adagrad_initial_accumulator_value", type=float, default=0.1)
    p.add_argument("--adam_beta1", type=float, default=0.9)
    p.add_argument("--adam_beta2", type=float, default=0.999)
    p.add_argument("--opt_epsilon", type=float, default=1.0)
    p.add_argument("--ftrl_learning_rate_power", type=float, default=-0.5)
    p.add_argument("--ftrl_initial_accumulator_value", type=float, default=0.1)
    p.add_argument("--ftrl_l1", type=float, default=0.0)
    p.add_argument("--ftrl_l2", type=float, default=0.0)
    p.add_argument("--momentum", type=float, default=0.9, help="for the momentum optimizer")
    p.add_argument("--rmsprop_momentum", type=float, default=0.9)
    p.add_argument("--rmsprop_decay", type=float, default=0.9)
    p.add_argument(
        "--learning_rate_decay_type", default="exponential", choices=("fixed", "exponential", "polynomial")
    )
    p.add_argument("--learning_rate", type=float, default=0.01)
    p.add_argument("--end_learning_rate", type=float, default=0.0001, help="where polynomial decay ends")
    p.add_argument("--learning_rate_decay_factor", type=float, default=0.94)
    p.add_argument(
        "--num_epochs_per_decay",
        type=float,
        default=2.0,
        help="epochs of the split (its size from imagenet_convert.json) per decay; per clone, as in Slim",
    )
    p.add_argument("--checkpoint_path", default=None, help="checkpoint (or its folder) to fine-tune from")
    p.add_argument("--checkpoint_exclude_scopes", default=None, help="comma-separated scopes not restored")
    p.add_argument("--trainable_scopes", default=None, help="comma-separated scopes to train (default: all)")
    _add_bool(p, "ignore_missing_vars", False, "skip variables the checkpoint lacks instead of failing")
    p.add_argument(
        "--batch_norm_decay",
        type=float,
        default=None,
        help="(not in Slim) moving-average decay of batch norm; default: the model's own (0.997 to 0.9997), "
        "too slow for short runs",
    )
    p.add_argument("--seed", type=int, default=None, help="(not in Slim) graph and input-order seed")
    p.add_argument("--quantize_delay", type=int, default=-1, help="refused when >= 0: " + _QUANTIZE)
    _add_cluster_flags(p)
    _add_bool(
        p,
        "synthetic_input",
        False,
        "(not in Slim) train on one random batch of the same shape instead of the shards: the model's own "
        "speed, without the input pipeline",
    )
    add_verbose_flag(p)
    return p


def _add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """Slim's between-graph replication flags, and the cluster's addresses (docs/cluster.md)."""
    parser.add_argument(
        "--master",
        default="",
        help="session target; default: this task's own server when the cluster is described (TF_CONFIG or "
        "--ps_hosts/--worker_hosts), else local. Alone, with --num_ps_tasks, a server started elsewhere",
    )
    parser.add_argument(
        "--num_ps_tasks",
        type=int,
        default=0,
        help="parameter servers (0: local); a described cluster sets it",
    )
    parser.add_argument(
        "--worker_replicas", type=int, default=1, help="workers in the cluster; a described cluster sets it"
    )
    _add_bool(
        parser, "sync_replicas", False, "aggregate gradients of --replicas_to_aggregate workers per step"
    )
    parser.add_argument(
        "--replicas_to_aggregate", type=int, default=1, help="gradients per step with --sync_replicas"
    )
    parser.add_argument(
        "--task", type=int, default=0, help="this worker's (or ps task's) index; 0 is the chief"
    )
    parser.add_argument(
        "--ps_hosts", default=None, help="(not in Slim) host:port,... of the ps tasks, instead of TF_CONFIG"
    )
    parser.add_argument(
        "--worker_hosts",
        default=None,
        help="(not in Slim) host:port,... of the workers, instead of TF_CONFIG",
    )
    parser.add_argument(
        "--job_name",
        choices=("ps", "worker"),
        default=None,
        help="(not in Slim) with --ps_hosts: this task's job",
    )
    parser.add_argument(
        "--cluster_timeout_secs",
        type=float,
        default=600,
        help="(not in Slim) give up, naming the address, when a task this one needs has not answered for "
        "this long",
    )


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """``--verbose``: TensorFlow's own start-up lines and warnings, hidden by default (``quiet``)."""
    _add_bool(parser, "verbose", False, "(not in Slim) show TensorFlow's log lines and warnings")


def eval_parser() -> argparse.ArgumentParser:
    """The flags of Slim's ``eval_image_classifier.py``; the split defaults to validation."""
    p = argparse.ArgumentParser(
        prog="python -m imagenet_convert evaluate",
        description="Top-1, top-5 and loss of a checkpoint, with Slim's eval_image_classifier.py flags.",
    )
    _add_model_flags(p)
    _add_dataset_flags(p, "validation")
    p.add_argument(
        "--checkpoint_path", default="/tmp/tfmodel/", help="a checkpoint, or a folder: its latest checkpoint"
    )
    p.add_argument("--eval_dir", default="/tmp/tfmodel/", help="the evaluation's event file goes here")
    p.add_argument("--eval_image_size", type=int, default=None, help="default: the model's own size")
    p.add_argument("--max_num_batches", type=int, default=None, help="default: the whole split")
    p.add_argument("--master", default="", help="session target (a TensorFlow server); default: in-process")
    add_verbose_flag(p)
    return p


def export_parser() -> argparse.ArgumentParser:
    """Slim's ``export_inference_graph.py``, writing a SavedModel that takes JPEG bytes."""
    p = argparse.ArgumentParser(
        prog="python -m imagenet_convert export",
        description="Export a checkpoint as a SavedModel taking JPEG bytes (signature serving_default) "
        "or decoded uint8 images (signature images), returning probabilities and the top 5 classes.",
    )
    _add_model_flags(p)
    p.add_argument(
        "--checkpoint_path", required=True, help="a checkpoint, or a folder: its latest checkpoint"
    )
    p.add_argument("--output_dir", required=True, help="where the SavedModel is written (must not exist)")
    p.add_argument("--dataset_dir", default=None, help="for labels.txt and num_classes")
    p.add_argument("--num_classes", type=int, default=None, help="without --dataset_dir; default 1001")
    p.add_argument("--image_size", type=int, default=None, help="default: the model's own size")
    add_verbose_flag(p)
    return p


def refusal(args: argparse.Namespace) -> str | None:
    """The reason the run cannot go ahead on today's TensorFlow, or None."""
    if getattr(args, "quantize_delay", -1) >= 0:
        return f"--quantize_delay={args.quantize_delay}: {_QUANTIZE}"
    if getattr(args, "dataset_name", "imagenet") != "imagenet":
        return f"--dataset_name={args.dataset_name}: only 'imagenet' (the converted Slim shards) is supported"
    return None


def split_scopes(text: str | None) -> list[str]:
    """Slim's comma-separated scope lists (``--checkpoint_exclude_scopes``, ``--trainable_scopes``)."""
    return [scope.strip() for scope in text.split(",") if scope.strip()] if text else []


def _describe(args: argparse.Namespace) -> str:
    """The run in a few words, for messages: ``vgg_416 at --batch_size 8``."""
    return f"{args.model_name} at --batch_size {getattr(args, 'batch_size', 1)}"


def run_command(command: Callable[[argparse.Namespace], object], args: argparse.Namespace) -> int:
    """Run a command after refusing what cannot work (a UsageError); memory run out is a Failed."""
    import tensorflow as tf  # here: parsing the command line must not load it (quiet.py)

    reason = refusal(args)
    if reason:
        raise UsageError(reason)
    try:
        with memory.guard(_describe(args)):
            command(args)
    except tf.errors.ResourceExhaustedError as error:  # a device's allocator (GPU) says so itself
        detail = error.message.splitlines()[0]
        if "No space left on device" in detail:  # TensorFlow reports a full disk as exhausted too
            raise Failed(f"the disk is full: {detail}; free some space or choose another folder") from None
        raise Failed(memory.message(_describe(args), detail)) from None
    return 0
