"""What a run's checkpoints hold, and how a model alone is read back from them.

A checkpoint is a `tf.train.Checkpoint` of the model's variables (`weights`, keyed by their path
below the model, so the optimizer is not needed to find them), the optimizer, the step, and any
state a task carries across batches. Keras 3 does not expose a model's variables to
`tf.train.Checkpoint` by its layer attributes (most of them are found only through the
optimizer's variable list), hence the explicit mapping. Dropout RNG states are variables of the
model, so a resumed run draws the same masks an uninterrupted one would.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

DIRECTORY = "checkpoints"


def model_variables(model: keras.Model) -> dict[str, tf.Variable]:
    """Every variable of `model` by a name that is the same in any process: weights by their
    path below the model, RNG states (whose Keras names count up process-wide) by their order."""
    prefix = model.name + "/"
    named: dict[str, tf.Variable] = {}
    states = 0
    for variable in model.variables:
        if variable.path.startswith(prefix):
            path = variable.path[len(prefix) :]
        else:  # a dropout layer's seed_generator_<n>/seed_generator_state
            path, states = f"rng_state_{states}", states + 1
        if path in named:
            raise ValueError(f"two variables of {model.name} share the path {path}")
        named[path] = variable
    return named


def latest(model_dir: str) -> str | None:
    """The newest checkpoint prefix of a run, or None."""
    return tf.train.latest_checkpoint(os.path.join(model_dir, DIRECTORY))


def restore_model(model: keras.Model, model_dir: str) -> int:
    """Loads the latest checkpoint's values into `model` only; returns its step (0: none).

    The optimizer, task state and anything else in the checkpoint are left alone.
    """
    path = latest(model_dir)
    if path is None:
        return 0
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(weights=model_variables(model), step=step)
    checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    return int(step.numpy())
