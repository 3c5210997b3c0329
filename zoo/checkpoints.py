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
import re
import sys

import keras
import tensorflow as tf
from absl import logging

from zoo.config import ConfigError

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


def saved(model_dir: str) -> list[str]:
    """A run's checkpoint prefixes, newest first, from the files themselves (`ckpt-<n>.index`):
    TensorFlow's `checkpoint` state file is only a list of them, and a damaged one must not
    make a run look as if it had never been saved."""
    folder = os.path.join(model_dir, DIRECTORY)
    numbers = []
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        match = re.fullmatch(r"ckpt-(\d+)\.index", name)
        if match:
            numbers.append(int(match.group(1)))
    return [os.path.join(folder, f"ckpt-{n}") for n in sorted(numbers, reverse=True)]


def remove_unfinished(model_dir: str) -> list[str]:
    """Removes what a save killed midway left (`ckpt-<n>_temp/`, TensorFlow's folder of a save
    before its rename); only the run's own trainer may, as it resumes. Returns their names."""
    import shutil

    folder = os.path.join(model_dir, DIRECTORY)
    removed = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if re.fullmatch(r"ckpt-\d+_temp", name):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
            removed.append(name)
    return removed


def latest(model_dir: str) -> str | None:
    """The newest checkpoint prefix of a run, or None."""
    paths = saved(model_dir)
    return paths[0] if paths else None


def restore_newest_good(checkpoint: tf.train.Checkpoint, model_dir: str,
                        partial: bool = False) -> str | None:
    """Restores the newest readable checkpoint of the run into `checkpoint`; its prefix, or None
    when the run has none. A damaged one is skipped with a warning (the run keeps several);
    when every one is damaged that is a ConfigError: the run must not silently start over."""
    paths = saved(model_dir)
    failures = []
    for path in paths:
        try:
            status = checkpoint.restore(path)
            if partial:
                status = status.expect_partial()
            status.assert_existing_objects_matched()
        except Exception as error:  # noqa: BLE001 - any damage (truncated, not an sstable...)
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            failures.append(f"{os.path.basename(path)} ({type(error).__name__}: {reason})")
            logging.warning("checkpoint %s is unreadable (%s); trying the one before", path,
                            reason or type(error).__name__)
            continue
        if failures:
            print(f"Skipped damaged checkpoint(s) {', '.join(failures)}; resuming from "
                  f"{os.path.basename(path)}", file=sys.stderr, flush=True)
        return path
    if paths:
        raise ConfigError(
            f"{model_dir}: no readable checkpoint ({'; '.join(failures)}); restore one from a "
            "backup, or start a new run (--fresh or another --model_dir)"
        )
    return None


def restore_model(model: keras.Model, model_dir: str) -> int | None:
    """Loads the newest good checkpoint's values into `model` only; returns its step (None: the
    run has no checkpoint; 0: an imported one, zoo.import_checkpoint's).

    The optimizer, task state and anything else in the checkpoint are left alone.
    """
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(weights=model_variables(model), step=step)
    if restore_newest_good(checkpoint, model_dir, partial=True) is None:
        return None
    return int(step.numpy())
