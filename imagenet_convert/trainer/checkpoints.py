"""Finding checkpoints and restoring part of one: Slim's fine-tuning rules, with readable errors."""

from __future__ import annotations

import tensorflow as tf

from imagenet_convert.errors import UsageError


def resolve(path: str) -> str:
    """A checkpoint prefix as given, or a folder's latest checkpoint (Slim accepts both)."""
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise UsageError(f"no checkpoint in {path}")
        return latest
    if not tf.io.gfile.exists(f"{path}.index"):
        raise UsageError(f"no checkpoint at {path}")
    return path


def require_shapes(checkpoint: str, variables: list[tf.Variable]) -> None:
    """A variable shaped unlike the checkpoint's fails naming it and the likely cause, before
    TensorFlow's assignment error would (a traceback, from deep inside ``Saver.restore``)."""
    shapes = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
    for v in variables:
        saved = shapes.get(v.op.name)
        if saved is not None and v.shape.as_list() != saved:
            raise UsageError(
                f"{v.op.name} is {v.shape.as_list()} in the model but {saved} in {checkpoint}; was the "
                "checkpoint trained with another --labels_offset, --num_classes or --model_name?"
            )


def warm_start_saver(
    checkpoint: str, model_variables: list[tf.Variable], exclude_scopes: list[str], ignore_missing: bool
) -> tf.compat.v1.train.Saver:
    """A saver restoring every model variable not under an excluded scope (name prefix, as in Slim).

    Variables the checkpoint lacks fail the run unless ``ignore_missing``; a shape that differs always
    does, naming the scope to exclude, rather than surfacing as TensorFlow's assignment error.
    """
    shapes = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
    wanted = [v for v in model_variables if not any(v.op.name.startswith(scope) for scope in exclude_scopes)]
    missing = [v.op.name for v in wanted if v.op.name not in shapes]
    if missing and not ignore_missing:
        raise UsageError(
            f"{checkpoint} lacks {len(missing)} model variable(s), e.g. {missing[0]}; exclude their scopes "
            "with --checkpoint_exclude_scopes or pass --ignore_missing_vars"
        )
    present = [v for v in wanted if v.op.name in shapes]
    for v in present:
        if v.shape.as_list() != shapes[v.op.name]:
            raise UsageError(
                f"{v.op.name} is {v.shape.as_list()} in the model but {shapes[v.op.name]} in {checkpoint}; "
                "add its scope to --checkpoint_exclude_scopes"
            )
    return tf.compat.v1.train.Saver({v.op.name: v for v in present})
