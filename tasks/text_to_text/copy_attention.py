"""A copy mechanism for rare words: the pointer-generator of See et al. 2017, on a Transformer.

Subject lines and summaries reuse names and numbers from their source that a small vocabulary
model seldom learns to write. The layer attends from each decoder state over the encoded source
(one head of its own), and mixes two distributions with a learned gate p_gen:

    p(w) = p_gen * softmax(logits)(w) + (1 - p_gen) * sum of attention on source positions holding w

Source and target share one vocabulary (the text-to-text tasks learn one), so copying a source
token is adding its attention to that token id. The output is log p, which the task's
cross-entropy and the decoding loop (both take log-softmax of "logits") read unchanged.
keras-hub and Model Garden have no copy layer; written here for that reason.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tasks")
class CopyAttention(keras.layers.Layer):
    """`call(logits [B,T,V], hidden [B,T,D], encoded [B,S,D], source_mask [B,S],
    source_ids [B,S])` -> float32 log-probabilities [B,T,V]."""

    def __init__(self, vocab_size: int, hidden_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_dim = hidden_dim
        self.query = keras.layers.Dense(hidden_dim, use_bias=False, name="query")
        self.gate = keras.layers.Dense(1, name="gate",
                                       bias_initializer=keras.initializers.Constant(2.0))

    def build(self, input_shape=None):
        self.query.build((None, self.hidden_dim))
        self.gate.build((None, self.hidden_dim))

    def call(self, logits, hidden, encoded, source_mask, source_ids):
        hidden = tf.cast(hidden, tf.float32)
        query = tf.cast(self.query(hidden), tf.float32)
        scores = tf.einsum("btd,bsd->bts", query, tf.cast(encoded, tf.float32))
        scores /= self.hidden_dim**0.5
        scores += (1.0 - tf.cast(source_mask[:, None, :], tf.float32)) * -1e9
        attention = tf.nn.softmax(scores, axis=-1)
        p_gen = tf.sigmoid(tf.cast(self.gate(hidden), tf.float32))  # starts near 0.88: generate
        mixed = (p_gen * tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
                 + (1.0 - p_gen) * self._on_vocabulary(attention, source_ids))
        return tf.math.log(mixed + 1e-9)

    def _on_vocabulary(self, attention, source_ids):
        """Attention [B,T,S] summed onto the vocabulary ids of the source [B,S] -> [B,T,V]; a
        segment sum, not a one-hot matmul, so that beams x sources x vocabulary never exists."""
        batch, steps = tf.shape(attention)[0], tf.shape(attention)[1]
        rows = tf.range(batch)[:, None] * self.vocab_size
        segments = tf.reshape(tf.cast(source_ids, tf.int32) + rows, [-1])  # [B*S]
        per_source = tf.reshape(tf.transpose(attention, [0, 2, 1]), [-1, steps])  # [B*S, T]
        summed = tf.math.unsorted_segment_sum(per_source, segments, batch * self.vocab_size)
        return tf.transpose(tf.reshape(summed, [batch, self.vocab_size, steps]), [0, 2, 1])

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "hidden_dim": self.hidden_dim}
