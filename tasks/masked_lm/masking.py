"""BERT's masking of a batch, drawn from a stateless RNG keyed by a seed.

Of the selectable tokens (not padding, [CLS] or [SEP]) of each row, `rate` of them (rounded,
at least one) are selected; each selected token becomes [MASK] with probability 0.8, a random
token with probability 0.1, and stays itself otherwise (Devlin et al. 2019, section 3.1). The
model predicts the original token at every selected position.

Written here rather than using keras-hub's `MaskedLMMaskGenerator` (tf-text's
`mask_language_model`): those draw from TensorFlow's stateful RNG, so the masks a resumed run
sees would differ from the ones an uninterrupted run saw. Here the masks are a function of
(seed, step, row): a run resumed at step k masks its batches exactly as before.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

MASK_RATE = 0.15
MASK_TOKEN_RATE = 0.8
RANDOM_TOKEN_RATE = 0.1


@dataclasses.dataclass(frozen=True)
class Masked:
    """A masked batch: the inputs the model reads and what it is asked for.

    `token_ids` [B, L] with the selected positions replaced; `positions`, `targets` and
    `weights` [B, P]: where the selections are, the original tokens there, and 1 for each
    real selection (rows with fewer than P selections are padded with weight 0).
    """

    token_ids: tf.Tensor
    positions: tf.Tensor
    targets: tf.Tensor
    weights: tf.Tensor


def max_predictions(sequence_length: int, rate: float = MASK_RATE) -> int:
    """P: the most positions a row of `sequence_length` tokens has selected (BERT: 20 of 128)."""
    return max(1, int(round(sequence_length * rate + 0.5)))


def mask_tokens(
    token_ids: tf.Tensor,
    selectable: tf.Tensor,
    seed: tf.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: tuple[int, ...] = (),
    rate: float = MASK_RATE,
    predictions: int | None = None,
) -> Masked:
    """Masks `token_ids` [B, L] where `selectable` [B, L] allows, keyed by `seed` (int [2]).

    Random replacements are drawn from the vocabulary less `special_ids` ([CLS], [MASK]...).
    """
    token_ids = tf.cast(token_ids, tf.int32)
    batch, length = tf.shape(token_ids)[0], token_ids.shape[1] or tf.shape(token_ids)[1]
    predictions = predictions or max_predictions(int(length), rate)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    selectable = tf.cast(selectable, tf.bool)
    # A random score per token; unselectable ones score below any real one, and the row's
    # `count` highest are selected.
    scores = tf.random.stateless_uniform(tf.shape(token_ids), seed=seeds[0])
    scores = tf.where(selectable, scores, -1.0)
    _, positions = tf.math.top_k(scores, k=predictions)
    count = tf.reduce_sum(tf.cast(selectable, tf.float32), axis=1)
    wanted = tf.clip_by_value(tf.round(count * rate), tf.minimum(count, 1.0), float(predictions))
    weights = tf.cast(tf.range(predictions)[None, :] < tf.cast(wanted, tf.int32)[:, None],
                      tf.float32)
    targets = tf.gather(token_ids, positions, batch_dims=1)

    choice = tf.random.stateless_uniform([batch, predictions], seed=seeds[1])
    ordinary = tf.constant(sorted(set(range(vocab_size)) - set(special_ids)), tf.int32)
    random_ids = tf.gather(ordinary, tf.random.stateless_uniform(
        [batch, predictions], seed=seeds[2], minval=0, maxval=int(ordinary.shape[0]),
        dtype=tf.int32,
    ))
    replacement = tf.where(
        choice < MASK_TOKEN_RATE,
        tf.fill([batch, predictions], tf.constant(mask_id, tf.int32)),
        tf.where(choice < MASK_TOKEN_RATE + RANDOM_TOKEN_RATE, random_ids, targets),
    )
    replacement = tf.where(weights > 0, replacement, targets)  # filler selections change nothing
    rows = tf.broadcast_to(tf.range(batch)[:, None], [batch, predictions])
    index = tf.stack([tf.reshape(rows, [-1]), tf.reshape(positions, [-1])], axis=1)
    masked = tf.tensor_scatter_nd_update(token_ids, index, tf.reshape(replacement, [-1]))
    return Masked(masked, positions, targets, weights)
