"""A translation model: a sequence-to-sequence backbone and an output layer over the target
vocabulary, and the view of it that generation drives for one batch of sources."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from tasks.causal_lm import serialize_backbone


@keras.saving.register_keras_serializable(package="tasks")
class Seq2SeqLM(keras.Model):
    """`call({"source_ids", "source_mask", "target_ids"})` -> float32 logits [B, T, vocab].

    The output layer is the decoder's token embedding transposed (`tie_embeddings`), or a
    Dense layer. `encode` reads sources once; `conditioned(encoded, mask)` is the decoder as a
    `tasks.protocols.LanguageModel` over those sources, for `tasks.decoding.generate`.
    """

    def __init__(self, backbone, vocab_size: int, tie_embeddings: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.vocab_size = vocab_size
        self.tie_embeddings = tie_embeddings
        self.head = None
        if not tie_embeddings:
            self.head = keras.layers.Dense(vocab_size, dtype=backbone.dtype_policy, name="head",
                                           **backbone.head_initializers())

    def build(self, input_shape):
        self.backbone.build(input_shape)
        if self.head is not None:
            shape = input_shape["target_ids"] if isinstance(input_shape, dict) else input_shape
            self.head.build((*shape, self.backbone.hidden_dim))

    def call(self, features, training=None):
        return self.logits(self.backbone(features, training=training))

    def logits(self, hidden):
        if self.head is None:
            out = self.backbone.token_embedding.attend(hidden)
        else:
            out = self.head(hidden)
        return ops.cast(out, "float32")

    @property
    def _default_save_signature(self):
        # Keras traces `self(inputs)` at its build shapes as a default SavedModel signature of
        # every Model inside an export, but this one reads a dict of source and target.
        # Exports carry the task's own signatures instead.
        return None

    def encode(self, source_ids, source_mask):
        return self.backbone.encode(source_ids, source_mask, training=False)

    def conditioned(self, encoded, source_mask) -> SourceConditioned:
        return SourceConditioned(self, encoded, source_mask)

    def get_config(self):
        config = super().get_config()
        config.update({"backbone": serialize_backbone(self.backbone),
                       "vocab_size": self.vocab_size, "tie_embeddings": self.tie_embeddings})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


class SourceConditioned:
    """The decoder over one batch of encoded sources, as the decoding loop sees a language model.

    The loop may ask for more rows than there are sources (beam search makes `num_beams`
    consecutive rows of each): the sources are repeated to match, and everything computed from
    them (cross-attention keys and values) is computed here, once per call of the loop.
    """

    built = True
    batch_first_state = True  # every tensor of the state has the batch first (beam search)

    def __init__(self, model: Seq2SeqLM, encoded, source_mask):
        self.model = model
        self.encoded = encoded
        self.source_mask = source_mask
        self.vocab_size = model.vocab_size
        self.context_length = model.backbone.context_length

    def initial_decoding_state(self, batch_size, max_length):
        repeats = batch_size // tf.shape(self.encoded)[0]
        encoded = tf.repeat(self.encoded, repeats, axis=0)
        mask = tf.repeat(self.source_mask, repeats, axis=0)
        return self.model.backbone.initial_decoding_state(batch_size, max_length,
                                                          source=(encoded, mask))

    def decode(self, token_ids, state, index):
        hidden, state = self.model.backbone.decode(token_ids, state, index)
        batch, steps = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
        logits = self.model.logits(tf.reshape(hidden, [-1, self.model.backbone.hidden_dim]))
        return tf.reshape(logits, [batch, steps, self.vocab_size]), state
