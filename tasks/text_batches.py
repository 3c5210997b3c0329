"""Padded batches of token ids from text, in the graph: what example-based tasks feed a model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


def pad_rows(
    ids: tf.RaggedTensor,
    length: int,
    pad_id: int,
    prefix: Sequence[int] = (),
    suffix: Sequence[int] = (),
) -> tuple[tf.Tensor, tf.Tensor]:
    """Ragged ids [B, (n)] -> ([B, length] ids, [B, length] int32 padding mask).

    Each row is cut to fit, wrapped in `prefix` and `suffix` ([CLS] ... [SEP] for an encoder)
    and right-padded with `pad_id`; the mask is 1 on real tokens.
    """
    room = length - len(prefix) - len(suffix)
    ids = tf.cast(ids[:, :room], tf.int32)
    rows = ids.nrows()
    parts = [ids]
    if prefix:
        parts.insert(0, tf.RaggedTensor.from_tensor(tf.tile([list(prefix)], [rows, 1])))
    if suffix:
        parts.append(tf.RaggedTensor.from_tensor(tf.tile([list(suffix)], [rows, 1])))
    ids = tf.concat(parts, axis=1) if len(parts) > 1 else ids
    mask = tf.ones_like(ids).to_tensor(0, shape=[None, length])
    return ids.to_tensor(pad_id, shape=[None, length]), tf.cast(mask, tf.int32)


def head_and_tail(ids: tf.RaggedTensor, room: int, head: int) -> tf.RaggedTensor:
    """Rows longer than `room` keep their first `head` and last `room - head` ids (Sun et al.
    2019 found head + tail the best cut of a long review for BERT); shorter rows stay whole."""
    lengths = ids.row_lengths()
    rows = tf.ragged.range(tf.minimum(lengths, room))
    which = rows.value_rowids()
    skipped = tf.gather(tf.maximum(lengths - room, 0), which)  # the middle that is left out
    offset = rows.flat_values + tf.where(rows.flat_values >= head, skipped,
                                         tf.zeros_like(skipped))
    values = tf.gather(ids.flat_values, tf.gather(ids.row_starts(), which) + offset)
    return tf.RaggedTensor.from_value_rowids(values, which, nrows=ids.nrows())


def encode_texts(tokenizer, texts: Sequence[str], chunk: int = 4096) -> list[np.ndarray]:
    """Every text's ids, tokenized in the graph a chunk at a time (fast for any tokenizer)."""
    out: list[np.ndarray] = []
    for start in range(0, len(texts), chunk):
        ragged = tokenizer.tf_tokenize(tf.constant(list(texts[start : start + chunk])))
        splits = ragged.row_splits.numpy()
        values = ragged.flat_values.numpy().astype(np.int32)
        out += [values[a:b] for a, b in zip(splits[:-1], splits[1:])]
    return out


def epoch_order(count: int, seed: int, step: tf.Tensor, steps_per_epoch: int) -> tf.Tensor:
    """The permutation of `count` examples for the epoch that `step` falls in (stateless)."""
    epoch = tf.cast(step, tf.int64) // steps_per_epoch
    scores = tf.random.stateless_uniform([count], seed=tf.stack([tf.constant(seed, tf.int64),
                                                                 epoch]))
    return tf.argsort(scores)


def batch_indices(count: int, batch: int, seed: int, step: tf.Tensor) -> tf.Tensor:
    """The `batch` example indices of training step `step`: epochs of shuffled examples, each
    example once per epoch (the last partial batch of an epoch is left out)."""
    steps_per_epoch = max(1, count // batch)
    order = epoch_order(count, seed, step, steps_per_epoch)
    start = (tf.cast(step, tf.int32) % steps_per_epoch) * batch
    return tf.gather(order, (start + tf.range(batch)) % count)
