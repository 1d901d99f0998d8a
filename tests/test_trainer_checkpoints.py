"""Finding checkpoints, and restoring part of one as Slim's fine-tuning does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tf_slim as slim

from imagenet_convert.errors import UsageError
from imagenet_convert.trainer import checkpoints


def _save(path: Path, values: dict[str, np.ndarray]) -> str:
    with tf.Graph().as_default():
        for name, value in values.items():
            slim.model_variable(name, initializer=tf.constant(value, tf.float32))
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return tf.compat.v1.train.Saver().save(session, str(path / "model.ckpt"), global_step=7)


def _restore(checkpoint: str, shapes: dict[str, int], exclude: list[str], ignore_missing: bool) -> dict:
    """Model variables of the given sizes, filled with -1, then restored: name -> value."""
    with tf.Graph().as_default():
        variables = [
            slim.model_variable(name, initializer=tf.fill([size], -1.0)) for name, size in shapes.items()
        ]
        saver = checkpoints.warm_start_saver(checkpoint, slim.get_model_variables(), exclude, ignore_missing)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.restore(session, checkpoint)
            return {v.op.name: session.run(v).tolist() for v in variables}


@pytest.fixture
def checkpoint(tmp_path: Path) -> str:
    return _save(tmp_path, {"net/a": np.array([1.0, 2.0]), "head/c": np.array([3.0, 4.0])})


def test_resolve_takes_a_folder_or_a_prefix(checkpoint: str, tmp_path: Path) -> None:
    assert checkpoints.resolve(str(tmp_path)) == checkpoint == checkpoints.resolve(checkpoint)
    with pytest.raises(UsageError, match="no checkpoint at"):
        checkpoints.resolve(str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no checkpoint in"):
        checkpoints.resolve(str(tmp_path / "empty"))


def test_excluded_scopes_keep_their_initial_values(checkpoint: str) -> None:
    restored = _restore(checkpoint, {"net/a": 2, "head/c": 2}, ["head"], ignore_missing=False)
    assert restored == {"net/a": [1.0, 2.0], "head/c": [-1.0, -1.0]}


def test_missing_variables_fail_unless_ignored(checkpoint: str) -> None:
    with pytest.raises(UsageError, match="lacks 1 model variable.*net/b.*--ignore_missing_vars"):
        _restore(checkpoint, {"net/a": 2, "net/b": 3}, [], ignore_missing=False)
    restored = _restore(checkpoint, {"net/a": 2, "net/b": 3}, [], ignore_missing=True)
    assert restored == {"net/a": [1.0, 2.0], "net/b": [-1.0, -1.0, -1.0]}


def test_a_different_shape_names_the_scope_to_exclude(checkpoint: str) -> None:
    with pytest.raises(
        UsageError, match=r"head/c is \[5\] in the model but \[2\].*--checkpoint_exclude_scopes"
    ):
        _restore(checkpoint, {"net/a": 2, "head/c": 5}, [], ignore_missing=True)
