"""``train``: Slim's ``train_image_classifier.py`` on TensorFlow 2 (``tf.compat.v1`` graph mode).

The graph is Slim's: in-graph clones that share variables and average their gradients (model_deploy),
Slim's losses, learning-rate schedules, optimizers and moving averages. The loop is a
``MonitoredTrainingSession`` instead of the removed ``Supervisor``: it resumes from the newest
checkpoint in ``--train_dir``, saves every ``--save_interval_secs`` and at the end, and writes
summaries every ``--save_summaries_secs``. Across machines (``cluster``) the variables live on ps
tasks and worker 0 is the chief that does all of that; ``--sync_replicas`` aggregates gradients of
``--replicas_to_aggregate`` workers per step. Each run ends with ``report``'s figures.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf
import tf_slim as slim

from imagenet_convert.errors import UsageError
from imagenet_convert.trainer import checkpoints, cluster, data, flags, nets_factory, preprocessing, report

Optimizer = tf.compat.v1.train.Optimizer
InitFn = Callable[[tf.compat.v1.train.Scaffold, tf.compat.v1.Session], None]

_OPTIMIZERS: dict[str, Callable[[argparse.Namespace, tf.Tensor], Optimizer]] = {
    "adadelta": lambda a, lr: tf.compat.v1.train.AdadeltaOptimizer(
        lr, rho=a.adadelta_rho, epsilon=a.opt_epsilon
    ),
    "adagrad": lambda a, lr: tf.compat.v1.train.AdagradOptimizer(
        lr, initial_accumulator_value=a.adagrad_initial_accumulator_value
    ),
    "adam": lambda a, lr: tf.compat.v1.train.AdamOptimizer(
        lr, beta1=a.adam_beta1, beta2=a.adam_beta2, epsilon=a.opt_epsilon
    ),
    "ftrl": lambda a, lr: tf.compat.v1.train.FtrlOptimizer(
        lr,
        learning_rate_power=a.ftrl_learning_rate_power,
        initial_accumulator_value=a.ftrl_initial_accumulator_value,
        l1_regularization_strength=a.ftrl_l1,
        l2_regularization_strength=a.ftrl_l2,
    ),
    "momentum": lambda a, lr: tf.compat.v1.train.MomentumOptimizer(lr, momentum=a.momentum, name="Momentum"),
    "rmsprop": lambda a, lr: tf.compat.v1.train.RMSPropOptimizer(
        lr, decay=a.rmsprop_decay, momentum=a.rmsprop_momentum, epsilon=a.opt_epsilon
    ),
    "sgd": lambda a, lr: tf.compat.v1.train.GradientDescentOptimizer(lr),
}


def decay_steps(args: argparse.Namespace, num_samples_per_epoch: int) -> float:
    """Steps per decay: ``--num_epochs_per_decay`` epochs of the split, counted per clone as in Slim;
    a synchronous step takes ``--replicas_to_aggregate`` batches, so there are that many times fewer."""
    steps = max(1, int(num_samples_per_epoch / args.batch_size * args.num_epochs_per_decay))
    return steps / args.replicas_to_aggregate if args.sync_replicas else steps


def learning_rate(args: argparse.Namespace, num_samples_per_epoch: int, global_step: tf.Tensor) -> tf.Tensor:
    """Slim's ``_configure_learning_rate``: fixed, staircase exponential, or linear polynomial decay."""
    steps = decay_steps(args, num_samples_per_epoch)
    if args.learning_rate_decay_type == "exponential":
        return tf.compat.v1.train.exponential_decay(
            args.learning_rate,
            global_step,
            steps,
            args.learning_rate_decay_factor,
            staircase=True,
            name="exponential_decay_learning_rate",
        )
    if args.learning_rate_decay_type == "polynomial":
        return tf.compat.v1.train.polynomial_decay(
            args.learning_rate,
            global_step,
            steps,
            args.end_learning_rate,
            power=1.0,
            cycle=False,
            name="polynomial_decay_learning_rate",
        )
    return tf.constant(args.learning_rate, name="fixed_learning_rate")


def optimizer(args: argparse.Namespace, rate: tf.Tensor) -> Optimizer:
    """Slim's ``_configure_optimizer``: the named optimizer with its flags' hyper-parameters."""
    return _OPTIMIZERS[args.optimizer](args, rate)


def clone_devices(num_clones: int, clone_on_cpu: bool) -> list[str]:
    """model_deploy's placement: every clone on the CPU, or one GPU each (one clone: TF's choice)."""
    if clone_on_cpu:
        return ["/device:CPU:0"] * num_clones
    if num_clones == 1:
        return [""]
    return [f"/device:GPU:{i}" for i in range(num_clones)]


def variables_to_train(trainable_scopes: str | None) -> list[tf.Variable]:
    """All trainable variables, or those under ``--trainable_scopes``."""
    scopes = flags.split_scopes(trainable_scopes)
    if not scopes:
        return tf.compat.v1.trainable_variables()
    chosen = [
        v
        for scope in scopes
        for v in tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES, scope)
    ]
    if not chosen:
        raise UsageError(f"--trainable_scopes={trainable_scopes} matches no trainable variable")
    return chosen


@dataclass(frozen=True)
class Clone:
    """One replica of the model: its name scope (for its losses), device, logits and labels."""

    scope: str
    device: str
    logits: tf.Tensor
    labels: tf.Tensor


def add_losses(
    end_points: dict[str, tf.Tensor], logits: tf.Tensor, onehot: tf.Tensor, smoothing: float
) -> None:
    """Slim's clone_fn losses: the auxiliary head (Inception v3) weighs 0.4, the logits 1.0."""
    if "AuxLogits" in end_points:
        tf.compat.v1.losses.softmax_cross_entropy(
            onehot, end_points["AuxLogits"], weights=0.4, label_smoothing=smoothing, scope="aux_loss"
        )
    tf.compat.v1.losses.softmax_cross_entropy(onehot, logits, weights=1.0, label_smoothing=smoothing)


def create_clones(
    args: argparse.Namespace,
    network: nets_factory.NetworkFn,
    next_batch: Callable[[], tuple],
    num_classes: int,
) -> list[Clone]:
    """model_deploy's ``create_clones``: each clone takes its own batch; clones after the first reuse
    the variables, which live on the CPU when there are several clones."""
    devices = clone_devices(args.num_clones, args.clone_on_cpu)
    placement = (
        slim.arg_scope([slim.model_variable, slim.variable], device="/device:CPU:0")
        if len(devices) > 1
        else contextlib.nullcontext()
    )
    clones = []
    with placement:
        for i, device in enumerate(devices):
            name = f"clone_{i}" if len(devices) > 1 else ""
            reuse = True if i > 0 else None
            with (
                tf.compat.v1.name_scope(name) as scope,
                tf.device(device),
                tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(), reuse=reuse),
            ):
                images, labels = next_batch()
                logits, end_points = network(images)
                add_losses(end_points, logits, tf.one_hot(labels, num_classes), args.label_smoothing)
            clones.append(Clone(scope, device, logits, labels))
    return clones


def _clone_loss(clone: Clone, num_clones: int, with_regularization: bool) -> tf.Tensor:
    """The clone's losses, divided by the number of clones; the first clone carries weight decay."""
    loss = tf.add_n(tf.compat.v1.losses.get_losses(scope=clone.scope), name="clone_loss")
    if num_clones > 1:
        loss = tf.divide(loss, float(num_clones), name="scaled_clone_loss")
    regularization = tf.compat.v1.losses.get_regularization_losses()
    if with_regularization and regularization:
        loss = tf.add(loss, tf.add_n(regularization, name="regularization_loss"), name="clone_total_loss")
    return loss


def optimize_clones(
    clones: list[Clone], opt: Optimizer, var_list: list[tf.Variable]
) -> tuple[tf.Tensor, list[tuple[tf.Tensor, tf.Variable]]]:
    """model_deploy's ``optimize_clones``: total loss and the gradients summed over the clones.

    The clone losses are already divided by their number, so the sum is the clones' average.
    """
    losses, per_clone = [], []
    for i, clone in enumerate(clones):
        with tf.compat.v1.name_scope(clone.scope), tf.device(clone.device):
            loss = _clone_loss(clone, len(clones), with_regularization=i == 0)
            losses.append(loss)
            per_clone.append(opt.compute_gradients(loss, var_list=var_list))
    summed = []
    for pairs in zip(*per_clone, strict=True):
        grads = [g for g, _ in pairs if g is not None]
        if grads:
            summed.append((tf.add_n(grads, name="sum_grads") if len(grads) > 1 else grads[0], pairs[0][1]))
    return tf.add_n(losses, name="clone_losses_sum"), summed  # not "total_loss": the summary owns that name


@dataclass(frozen=True)
class TrainGraph:
    """What the loop runs (``fetches``: loss and the global step after the update) and how it starts.

    ``input_wait`` is the seconds the step waited for its batches; ``images_per_step`` counts one global
    step over all replicas.
    """

    fetches: tuple[tf.Tensor, tf.Tensor]
    global_step: tf.Variable
    init_fn: InitFn | None
    input_wait: tf.Tensor
    images_per_step: int
    parameters: int
    sync_optimizer: tf.compat.v1.train.SyncReplicasOptimizer | None


def _summaries(clone: Clone, total_loss: tf.Tensor, rate: tf.Tensor) -> None:
    """Loss, learning rate and the first clone's batch accuracy, as scalar summaries."""
    for loss in tf.compat.v1.losses.get_losses(scope=clone.scope):
        tf.compat.v1.summary.scalar(f"losses/{loss.op.name}", loss)
    correct = tf.equal(tf.argmax(clone.logits, 1), clone.labels)
    tf.compat.v1.summary.scalar("accuracy", tf.reduce_mean(tf.cast(correct, tf.float32)))
    tf.compat.v1.summary.scalar("total_loss", total_loss)
    tf.compat.v1.summary.scalar("learning_rate", rate)


def _input(args: argparse.Namespace, split: data.Split, image_size: int, num_classes: int) -> tf.data.Dataset:
    """Preprocessed batches from the shards, or ``--synthetic_input``'s one random batch."""
    if args.synthetic_input:
        return data.synthetic_batches(args.batch_size, image_size, num_classes, args.seed)
    preprocess = preprocessing.get_preprocessing(args.preprocessing_name or args.model_name, is_training=True)
    return data.train_batches(
        split,
        lambda image, boxes: preprocess(image, boxes, image_size, image_size),
        batch_size=args.batch_size,
        num_readers=args.num_readers,
        num_threads=args.num_preprocessing_threads,
        labels_offset=args.labels_offset,
        seed=args.seed,
    )


def _sync(
    args: argparse.Namespace,
    opt: Optimizer,
    task: cluster.Task | None,
    averages: tf.compat.v1.train.ExponentialMovingAverage | None,
) -> tf.compat.v1.train.SyncReplicasOptimizer:
    """Slim's ``--sync_replicas``: the chief applies the moving averages once per aggregated step."""
    return tf.compat.v1.train.SyncReplicasOptimizer(
        opt,
        replicas_to_aggregate=args.replicas_to_aggregate,
        total_num_replicas=task.num_workers if task else args.worker_replicas,
        variable_averages=averages,
        variables_to_average=slim.get_model_variables() if averages else None,
    )


def build(args: argparse.Namespace, split: data.Split, task: cluster.Task | None = None) -> TrainGraph:
    """The training graph in the default graph, as Slim's ``main`` builds it (for ``task`` in a cluster,
    under ``cluster.device_function``)."""
    if args.seed is not None:
        tf.compat.v1.set_random_seed(args.seed)
    with tf.device("/device:CPU:0" if args.num_clones > 1 else ""):
        global_step = tf.compat.v1.train.get_or_create_global_step()
    arch = nets_factory.architecture(args.model_name)
    num_classes = split.num_classes - args.labels_offset
    network = nets_factory.get_network_fn(
        args.model_name,
        num_classes,
        args.weight_decay,
        is_training=True,
        batch_norm_decay=args.batch_norm_decay,
    )
    with tf.device("/device:CPU:0"):
        batches = _input(args, split, args.train_image_size or arch.default_image_size, num_classes)
        next_batch, waits = report.timed_input(tf.compat.v1.data.make_one_shot_iterator(batches).get_next)
    clones = create_clones(args, network, next_batch, num_classes)
    parameters = report.parameter_count(tf.compat.v1.trainable_variables())
    update_ops = []
    averages = None
    if args.moving_average_decay:
        averages = tf.compat.v1.train.ExponentialMovingAverage(args.moving_average_decay, global_step)
    rate = learning_rate(args, split.num_examples, global_step)
    opt = optimizer(args, rate)
    sync_optimizer = _sync(args, opt, task, averages) if args.sync_replicas else None
    if averages and not sync_optimizer:
        update_ops.append(averages.apply(slim.get_model_variables()))
    total_loss, gradients = optimize_clones(clones, opt, variables_to_train(args.trainable_scopes))
    update_ops.append((sync_optimizer or opt).apply_gradients(gradients, global_step=global_step))
    _summaries(clones[0], total_loss, rate)
    with tf.control_dependencies(update_ops):
        fetches = (tf.identity(total_loss, name="train_op"), global_step.read_value())
    images_per_step = (
        args.batch_size * args.num_clones * (args.replicas_to_aggregate if sync_optimizer else 1)
    )
    input_wait = tf.reduce_max(tf.stack(waits))
    return TrainGraph(
        fetches, global_step, _warm_start(args), input_wait, images_per_step, parameters, sync_optimizer
    )


def _warm_start(args: argparse.Namespace) -> InitFn | None:
    """Slim's ``_get_init_fn``: fine-tune from ``--checkpoint_path`` only when not resuming."""
    if not args.checkpoint_path:
        return None
    if tf.train.latest_checkpoint(args.train_dir):
        print(f"Ignoring --checkpoint_path because a checkpoint already exists in {args.train_dir}")
        return None
    path = checkpoints.resolve(args.checkpoint_path)
    saver = checkpoints.warm_start_saver(
        path,
        slim.get_model_variables(),
        flags.split_scopes(args.checkpoint_exclude_scopes),
        args.ignore_missing_vars,
    )
    print(f"Fine-tuning from {path}")
    return lambda _scaffold, session: saver.restore(session, path)


def run(args: argparse.Namespace, graph: TrainGraph, task: cluster.Task | None = None) -> report.Meter:
    """Train until ``--max_number_of_steps`` (or forever), as the chief or another worker of ``task``'s
    cluster; returns the steps' measurements."""
    is_chief = task is None or task.is_chief
    hooks: list[tf.compat.v1.train.SessionRunHook] = []
    if args.max_number_of_steps is not None:
        hooks.append(tf.compat.v1.train.StopAtStepHook(last_step=args.max_number_of_steps))
    if graph.sync_optimizer is not None:
        hooks.append(cluster.SyncReplicasHook(graph.sync_optimizer, is_chief))
    if not is_chief:
        cluster.wait_for_chief(task)
    meter = report.Meter(graph.images_per_step)
    with tf.compat.v1.train.MonitoredTrainingSession(
        master=task.master if task else "",
        is_chief=is_chief,
        checkpoint_dir=args.train_dir,
        scaffold=tf.compat.v1.train.Scaffold(init_fn=graph.init_fn),
        hooks=hooks,
        save_checkpoint_secs=args.save_interval_secs,
        save_summaries_secs=args.save_summaries_secs,
        log_step_count_steps=None,
        config=cluster.session_config(task),
    ) as session:
        logged = meter.begin(
            session.run_step_fn(lambda step_context: step_context.session.run(graph.global_step))
        )
        while not session.should_stop():
            start = time.monotonic()
            (loss, step), wait = session.run((graph.fetches, graph.input_wait))
            seconds = time.monotonic() - start
            meter.record(int(step), seconds, float(wait))
            # once per global step: a synchronous worker's step can end before the global step moves
            if args.log_every_n_steps > 0 and step % args.log_every_n_steps == 0 and step != logged:
                logged = step
                rate = meter.images_per_sec_since_last_log()
                print(
                    f"global step {step}: loss = {loss:.4f} ({seconds:.3f} sec/step, {rate:.3g} images/s)",
                    flush=True,
                )
    return meter


def train(args: argparse.Namespace) -> dict[str, object]:
    """Build and run one training, or serve as a ps task; returns this task's report."""
    started = time.monotonic()
    task = cluster.resolve(args)
    if task is not None and task.job == "ps":
        return cluster.serve(task, args.cluster_timeout_secs, args.train_dir)
    split = data.load_split(args.dataset_dir, args.dataset_split_name)
    with cluster.joined(task, args.cluster_timeout_secs) as task, tf.Graph().as_default():
        with cluster.device_function(task):
            graph = build(args, split, task)
        meter = run(args, graph, task)
    figures = meter.summary()
    print(f"Finished training at global step {figures['last_global_step']}; checkpoints in {args.train_dir}")
    ended = report.build(
        task.name if task else "local",
        started,
        model=args.model_name,
        batch_size=args.batch_size,
        num_clones=args.num_clones,
        cluster=cluster.describe(task, args),
        synthetic_input=args.synthetic_input,
        parameters=graph.parameters,
        **figures,
    )
    print(f"{report.describe(ended)}; {report.write(args.train_dir, ended)}", flush=True)
    return ended


def main(argv: list[str]) -> int:
    """``python -m imagenet_convert train [Slim's train_image_classifier flags]``."""
    return flags.run_command(train, flags.train_parser().parse_args(argv))
