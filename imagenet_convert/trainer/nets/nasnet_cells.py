"""The cell machinery NASNet-A and PNASNet-5 share (Slim's ``nasnet_utils`` and its two network builders).

A searched cell is a table: five combinations, each adding two operations applied to earlier hidden
states. ``build`` stacks cells into a network the way Slim does, so the variables (and their names, down
to Slim's stray ``.../global_step``) are Slim's and its checkpoints restore. The hyperparameters Slim kept
in a contrib ``HParams`` are a frozen ``Config``; pass a modified copy (``dataclasses.replace``) as
``config=``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import tensorflow as tf
import tf_slim as slim

import imagenet_convert.trainer.compat  # noqa: F401  (aliases ops.Tensor before tf_slim's layers run)

_CAP = 6.0  # with use_bounded_activation, operations are clipped to relu6's range (for quantization)


@dataclass(frozen=True)
class Config:
    """Slim's NASNet/PNASNet hyperparameters, field for field."""

    stem_multiplier: float
    dense_dropout_keep_prob: float
    num_cells: int
    num_conv_filters: int
    drop_path_keep_prob: float
    skip_reduction_layer_input: bool
    total_training_steps: int  # drop path reaches full strength here
    filter_scaling_rate: float = 2.0
    use_aux_head: bool = True
    num_reduction_layers: int = 2
    data_format: str = "NHWC"
    use_bounded_activation: bool = False


@dataclass(frozen=True)
class CellSpec:
    """One searched cell.

    Hidden state 0 is the cell's input through a 1x1 projection, state 1 the previous cell's output
    matched to it; combination ``i`` (``left op, left state, right op, right state``, summed) makes state
    ``i + 2``. The cell's output concatenates the states in ``concatenated`` (Slim: those marked unused).
    Operations are ``separable_KxK_LAYERS``, ``avg_pool_KxK``, ``max_pool_KxK`` or ``none`` (identity).
    """

    combinations: tuple[tuple[str, int, str, int], ...]
    concatenated: tuple[int, ...]


def arg_scope(
    weight_decay: float, batch_norm_decay: float, batch_norm_epsilon: float
) -> dict[str, dict[str, Any]]:
    """Slim's NASNet arg scope: no biases or activations in the layers (cells place their own ReLUs)."""
    with (
        slim.arg_scope(
            [slim.fully_connected, slim.conv2d, slim.separable_conv2d],
            weights_regularizer=slim.l2_regularizer(weight_decay),
            weights_initializer=slim.variance_scaling_initializer(mode="FAN_OUT"),
        ),
        slim.arg_scope([slim.fully_connected], activation_fn=None, scope="FC"),
        slim.arg_scope([slim.conv2d, slim.separable_conv2d], activation_fn=None, biases_initializer=None),
        slim.arg_scope(
            [slim.batch_norm], decay=batch_norm_decay, epsilon=batch_norm_epsilon, scale=True, fused=True
        ) as scope,
    ):
        return scope


def build(
    images: tf.Tensor,
    num_classes: int | None,
    *,
    is_training: bool,
    config: Config,
    normal: CellSpec,
    reduction: CellSpec | None,
    imagenet_stem: bool,
    final_endpoint: str | None = None,
    current_step: tf.Tensor | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Slim's ``_build_nasnet_base`` (``reduction`` given) and ``_build_pnasnet_base`` (``None``: the
    normal cell strides where NASNet inserts a reduction cell, and also serves as the stem cell).

    ``imagenet_stem`` picks a strided 3x3 convolution and two stem cells over CIFAR's plain 3x3. Drop path
    and the auxiliary head exist in training graphs only; ``current_step`` (default: the global step) drives
    drop path's schedule.
    """
    if not is_training:
        config = replace(config, drop_path_keep_prob=1.0)
    if config.data_format == "NCHW":
        images = tf.transpose(images, [0, 3, 1, 2])
    stem_cells = 2 if imagenet_stem else 0
    # Depth for drop path: Slim counts two reduction cells for NASNet (whatever num_reduction_layers says).
    total_cells = config.num_cells + stem_cells + (2 if reduction else 0)
    network = _Network(config, total_cells, current_step)
    with (
        slim.arg_scope([slim.dropout, slim.batch_norm], is_training=is_training),
        slim.arg_scope(
            [slim.avg_pool2d, slim.max_pool2d, slim.conv2d, slim.batch_norm, slim.separable_conv2d],
            data_format=config.data_format,
        ),
    ):
        return network.build(
            images, num_classes, normal, reduction, imagenet_stem, is_training, final_endpoint
        )


_OPERATION = re.compile(r"(separable|avg_pool|max_pool)_(\d+)x\2(?:_(\d+))?")


def _operation(name: str) -> tuple[str, int, int]:
    """``separable_5x5_2`` -> (``separable``, 5, 2); ``max_pool_3x3`` -> (``max_pool``, 3, 1)."""
    if name == "none":
        return name, 1, 1
    match = _OPERATION.fullmatch(name)
    if match is None:
        raise ValueError(f"Unimplemented operation {name}")
    return match[1], int(match[2]), int(match[3] or 1)


class _Network:
    """Builds cells for one network, which share its config, depth and training step."""

    def __init__(self, config: Config, total_cells: int, current_step: tf.Tensor | None) -> None:
        self.config = config
        self.total_cells = total_cells
        self.current_step = current_step
        self.channels_last = config.data_format == "NHWC"
        self.axis = 3 if self.channels_last else 1

    def build(
        self,
        images: tf.Tensor,
        num_classes: int | None,
        normal: CellSpec,
        reduction: CellSpec | None,
        imagenet_stem: bool,
        is_training: bool,
        final_endpoint: str | None,
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        config = self.config
        end_points: dict[str, tf.Tensor] = {}

        def reached(name: str, net: tf.Tensor) -> bool:
            end_points[name] = net
            return name == final_endpoint

        n = config.num_reduction_layers
        reductions = [int(k / (n + 1) * config.num_cells) for k in range(1, n + 1)]
        aux_cells = {reductions[1] - 1} if len(reductions) >= 2 else set()

        if imagenet_stem:
            net = slim.conv2d(
                images, int(32 * config.stem_multiplier), [3, 3], stride=2, padding="VALID", scope="conv0"
            )
            net = slim.batch_norm(net, scope="conv0_bn")
            outputs = [None, net]
            scaling = 1.0 / config.filter_scaling_rate**2
            for i in range(2):
                net = self.cell(reduction or normal, net, outputs[-2], f"cell_stem_{i}", scaling, 2, i)
                outputs.append(net)
                scaling *= config.filter_scaling_rate
        else:
            filters = int(config.num_conv_filters * config.stem_multiplier)
            net = slim.batch_norm(slim.conv2d(images, filters, 3, scope="l1_stem_3x3"), scope="l1_stem_bn")
            outputs = [None, net]
        if reached("Stem", net):
            return net, end_points

        scaling = 1.0
        depth = len(outputs) - 2  # Slim's true_cell_num: stem and reduction cells count too
        prev = None
        for i in range(config.num_cells):
            stride = 1
            if config.skip_reduction_layer_input:
                prev = outputs[-2]
            if i in reductions:
                scaling *= config.filter_scaling_rate
                if reduction is None:
                    stride = 2
                else:
                    k = reductions.index(i)
                    net = self.cell(reduction, net, outputs[-2], f"reduction_cell_{k}", scaling, 2, depth)
                    if reached(f"Reduction_Cell_{k}", net):
                        return net, end_points
                    depth += 1
                    outputs.append(net)
            # A strided PNASNet cell without skip_reduction_layer_input keeps the last cell's prev, as Slim's.
            if not config.skip_reduction_layer_input and stride == 1:
                prev = outputs[-2]
            net = self.cell(normal, net, prev, f"cell_{i}", scaling, stride, depth)
            if reached(f"Cell_{i}", net):
                return net, end_points
            depth += 1
            outputs.append(net)
            if config.use_aux_head and i in aux_cells and num_classes and is_training:
                self.aux_head(self.activation(net), num_classes, f"aux_{i}", end_points)

        with tf.compat.v1.variable_scope("final_layer"):
            net = tf.reduce_mean(self.activation(net), [1, 2] if self.channels_last else [2, 3])
            if reached("global_pool", net) or not num_classes:
                return net, end_points
            net = slim.dropout(net, config.dense_dropout_keep_prob, scope="dropout")
            logits = slim.fully_connected(net, num_classes)
            if reached("Logits", logits):
                return logits, end_points
            predictions = tf.nn.softmax(logits, name="predictions")
            if reached("Predictions", predictions):
                return predictions, end_points
        return logits, end_points

    def cell(
        self,
        spec: CellSpec,
        net: tf.Tensor,
        prev: tf.Tensor | None,
        scope: str,
        filter_scaling: float,
        stride: int,
        depth: int,
    ) -> tf.Tensor:
        """One cell; ``stride`` applies to operations on states 0 and 1, the cell's inputs."""
        filters = int(self.config.num_conv_filters * filter_scaling)
        with tf.compat.v1.variable_scope(scope):
            prev = self.match_previous(prev, net, filters)
            net = slim.conv2d(self.activation(net), filters, 1, scope="1x1")
            states = [slim.batch_norm(net, scope="beginning_bn"), prev]
            for i, (left_op, left, right_op, right) in enumerate(spec.combinations):
                with tf.compat.v1.variable_scope(f"comb_iter_{i}"):
                    halves = []
                    for side, name, state in (("left", left_op, left), ("right", right_op, right)):
                        with tf.compat.v1.variable_scope(side):
                            strides = stride if state < 2 else 1
                            halves.append(self.operation(states[state], name, strides, filters, depth))
                    with tf.compat.v1.variable_scope("combine"):
                        h = halves[0] + halves[1]
                        states.append(tf.nn.relu6(h) if self.config.use_bounded_activation else h)
            with tf.compat.v1.variable_scope("cell_output"):
                return self.concatenate(states, spec.concatenated)

    def match_previous(self, prev: tf.Tensor | None, net: tf.Tensor, filters: int) -> tf.Tensor:
        """Bring the previous cell's output to this cell's resolution and width (the input itself if none)."""
        if prev is None:
            return net
        if self.size(prev) != self.size(net):
            return self.factorized_reduction(self.activation(prev), filters, 2)
        if self.channels(prev) != filters:
            prev = slim.conv2d(self.activation(prev), filters, 1, scope="prev_1x1")
            return slim.batch_norm(prev, scope="prev_bn")
        return prev

    def operation(self, net: tf.Tensor, name: str, stride: int, filters: int, depth: int) -> tf.Tensor:
        bounded = self.config.use_bounded_activation
        kind, kernel, layers = _operation(name)
        if kind == "none":
            # The identity, unless the shape must change: then a (strided) 1x1 projection.
            project = stride > 1 or self.channels(net) != filters
            if bounded or project:
                net = self.activation(net)
            if project:
                net = slim.conv2d(net, filters, 1, stride=stride, scope="1x1")
                net = self.clip(slim.batch_norm(net, scope="bn_1"))
            return net
        if kind == "separable":
            for layer in range(1, layers + 1):
                net = slim.separable_conv2d(
                    self.activation(net),
                    filters,
                    kernel,
                    depth_multiplier=1,
                    stride=stride if layer == 1 else 1,
                    scope=f"separable_{kernel}x{kernel}_{layer}",
                )
                net = slim.batch_norm(net, scope=f"bn_sep_{kernel}x{kernel}_{layer}")
        else:
            inputs = self.channels(net)
            if bounded:
                net = tf.nn.relu6(net)
            pool = slim.avg_pool2d if kind == "avg_pool" else slim.max_pool2d
            net = pool(net, kernel, stride=stride, padding="SAME")
            if inputs != filters:
                net = slim.batch_norm(slim.conv2d(net, filters, 1, scope="1x1"), scope="bn_1")
        return self.drop_path(self.clip(net), depth)

    def drop_path(self, net: tf.Tensor, depth: int) -> tf.Tensor:
        """Zero whole examples of an operation's output, more often deeper in the net and later in training.

        Slim's "v3" schedule: the drop rate scales with (depth + 1) / total_cells and with the fraction of
        ``total_training_steps`` done. The global step is looked up (or created) in the current variable
        scope, as Slim does.
        """
        keep = self.config.drop_path_keep_prob
        if keep >= 1.0:
            return net
        keep = 1 - (depth + 1) / self.total_cells * (1 - keep)
        step = self.current_step
        if step is None:
            step = tf.compat.v1.train.get_or_create_global_step()
        done = tf.minimum(1.0, tf.cast(step, tf.float32) / self.config.total_training_steps)
        keep = 1 - done * (1 - keep)
        noise = keep + tf.random.uniform([tf.shape(net)[0], 1, 1, 1], dtype=tf.float32)
        mask = tf.cast(tf.floor(noise), net.dtype)
        return net * tf.cast(1.0 / keep, net.dtype) * mask

    def concatenate(self, states: list[tf.Tensor], concatenated: tuple[int, ...]) -> tf.Tensor:
        """Concatenate the output states, first matching each to the last one's resolution and width."""
        last = states[-1]
        for i in concatenated:
            h = states[i]
            if self.size(h) != self.size(last) or self.channels(h) != self.channels(last):
                with tf.compat.v1.variable_scope(f"reduction_{i}"):
                    stride = 2 if self.size(h) != self.size(last) else 1
                    states[i] = self.factorized_reduction(h, self.channels(last), stride)
        return tf.concat([states[i] for i in concatenated], axis=self.axis)

    def factorized_reduction(self, net: tf.Tensor, filters: int, stride: int) -> tf.Tensor:
        """A 1x1 projection that, when strided, keeps every pixel: two half-width convolutions read the
        even and the odd pixel grid (the odd one padded with zeros past the edge)."""
        if stride == 1:
            net = slim.conv2d(net, filters, 1, scope="path_conv")
            return slim.batch_norm(net, scope="path_bn")
        pad = [[0, 0], [0, 1], [0, 1], [0, 0]] if self.channels_last else [[0, 0], [0, 0], [0, 1], [0, 1]]
        even = self.subsample(net, 0, stride)
        odd = self.subsample(tf.pad(net, pad), 1, stride)
        even = slim.conv2d(even, filters // 2, 1, scope="path1_conv")
        odd = slim.conv2d(odd, filters - filters // 2, 1, scope="path2_conv")
        return slim.batch_norm(tf.concat([even, odd], axis=self.axis), scope="final_path_bn")

    def aux_head(
        self, net: tf.Tensor, num_classes: int, scope: str, end_points: dict[str, tf.Tensor]
    ) -> None:
        """The auxiliary classifier Slim trains with (``AuxLogits``) on the cell before the last reduction."""
        with tf.compat.v1.variable_scope(scope), tf.compat.v1.variable_scope("aux_logits"):
            net = slim.avg_pool2d(net, [5, 5], stride=3, padding="VALID")
            net = slim.conv2d(net, 128, [1, 1], scope="proj")
            net = self.activation(slim.batch_norm(net, scope="aux_bn0"))
            spatial = net.shape[1:3] if self.channels_last else net.shape[2:4]
            net = slim.conv2d(net, 768, [int(d) for d in spatial], padding="VALID")
            net = self.activation(slim.batch_norm(net, scope="aux_bn1"))
            end_points["AuxLogits"] = slim.fully_connected(slim.flatten(net), num_classes)

    def subsample(self, net: tf.Tensor, start: int, stride: int) -> tf.Tensor:
        """Every ``stride``-th pixel from ``start`` (Slim's 1x1 average pool with that stride)."""
        every = slice(start, None, stride)
        if self.channels_last:
            return net[:, every, every, :]
        return net[:, :, every, every]

    def activation(self, net: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu6(net) if self.config.use_bounded_activation else tf.nn.relu(net)

    def clip(self, net: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(net, -_CAP, _CAP) if self.config.use_bounded_activation else net

    def channels(self, net: tf.Tensor) -> int:
        return int(net.shape[self.axis])

    def size(self, net: tf.Tensor) -> int:
        """A spatial size (Slim compares dimension 2, the width in NHWC and the height in NCHW)."""
        return int(net.shape[2])


@dataclass(frozen=True)
class Network:
    """One model of the family: its cells, its stem, Slim's configuration and image size for it."""

    normal: CellSpec
    reduction: CellSpec | None
    imagenet_stem: bool
    config: Config
    default_image_size: int


def builder(
    name: str, network: Network, description: str
) -> Callable[..., tuple[tf.Tensor, dict[str, tf.Tensor]]]:
    """A builder with Slim's signature (``build_nasnet_mobile`` and its kin) for ``network``."""

    def build_network(
        images: tf.Tensor,
        num_classes: int | None,
        is_training: bool = True,
        final_endpoint: str | None = None,
        config: Config | None = None,
        current_step: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        return build(
            images,
            num_classes,
            is_training=is_training,
            config=config or network.config,
            normal=network.normal,
            reduction=network.reduction,
            imagenet_stem=network.imagenet_stem,
            final_endpoint=final_endpoint,
            current_step=current_step,
        )

    build_network.__name__ = build_network.__qualname__ = name
    build_network.__doc__ = description
    build_network.default_image_size = network.default_image_size  # type: ignore[attr-defined]
    return build_network
