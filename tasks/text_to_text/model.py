"""A text-to-text model: a sequence-to-sequence backbone and an output layer over the target
vocabulary, and the view of it that generation drives for one batch of sources."""

from __future__ import annotations

import keras
import tensorflow as tf

from tasks.task_model import TaskModel, VocabularyLogits
from tasks.text_to_text.copy_attention import CopyAttention


@keras.saving.register_keras_serializable(package="tasks")
class Seq2SeqLM(VocabularyLogits, TaskModel):
    """`call({"source_ids", "source_mask", "target_ids"})` -> float32 logits [B, T, vocab].

    The output layer is the decoder's token embedding transposed (`tie_embeddings`), or a
    Dense layer. `encode` reads sources once; `conditioned(encoded, mask)` is the decoder as a
    `tasks.protocols.LanguageModel` over those sources, for `tasks.decoding.generate`.
    """

    config_keys = ("vocab_size", "tie_embeddings", "copy_attention")

    def __init__(self, backbone, vocab_size: int, tie_embeddings: bool = True,
                 copy_attention: bool = False, **kwargs):
        super().__init__(backbone, **kwargs)
        self.vocab_size = vocab_size
        self.tie_embeddings = tie_embeddings
        self.copy_attention = copy_attention
        self.add_vocabulary_head(vocab_size, tied=tie_embeddings, bias=True)
        self.copy = None
        if copy_attention:
            self.copy = CopyAttention(vocab_size, backbone.hidden_dim, name="copy")

    def build(self, input_shape):
        self.backbone.build(input_shape)
        shape = input_shape["target_ids"] if isinstance(input_shape, dict) else input_shape
        self.build_vocabulary_head(shape)
        if self.copy is not None:
            self.copy.build()

    def call(self, features, training=None):
        if self.copy is None:
            return self.logits(self.backbone(features, training=training))
        source_ids, source_mask = features["source_ids"], features["source_mask"]
        encoded = self.backbone.encode(source_ids, source_mask, training=training)
        hidden = self.backbone.decode_sequence(features["target_ids"], encoded, source_mask,
                                               training=training)
        return self.copy(self.logits(hidden), hidden, encoded, source_mask, source_ids)

    @property
    def _default_save_signature(self):
        # Keras traces `self(inputs)` at its build shapes as a default SavedModel signature of
        # every Model inside an export, but this one reads a dict of source and target.
        # Exports carry the task's own signatures instead.
        return None

    def encode(self, source_ids, source_mask):
        return self.backbone.encode(source_ids, source_mask, training=False)

    def conditioned(self, encoded, source_mask, source_ids=None) -> SourceConditioned:
        return SourceConditioned(self, encoded, source_mask, source_ids)


class SourceConditioned:
    """The decoder over one batch of encoded sources, as the decoding loop sees a language model.

    The loop may ask for more rows than there are sources (beam search makes `num_beams`
    consecutive rows of each): the sources are repeated to match, and everything computed from
    them (cross-attention keys and values) is computed here, once per call of the loop.
    """

    built = True
    batch_first_state = True  # every tensor of the state has the batch first (beam search)

    def __init__(self, model: Seq2SeqLM, encoded, source_mask, source_ids=None):
        if model.copy is not None and source_ids is None:
            raise ValueError("a copying model decodes with its source ids")
        self.model = model
        self.encoded = encoded
        self.source_mask = source_mask
        self.source_ids = source_ids
        self.vocab_size = model.vocab_size
        self.context_length = model.backbone.context_length
        self._rows = None  # the sources repeated to the loop's rows, for the copy mechanism

    def initial_decoding_state(self, batch_size, max_length):
        repeats = batch_size // tf.shape(self.encoded)[0]
        encoded = tf.repeat(self.encoded, repeats, axis=0)
        mask = tf.repeat(self.source_mask, repeats, axis=0)
        if self.model.copy is not None:
            # Beam search reorders rows only among one source's beams: these stay aligned.
            self._rows = (encoded, mask, tf.repeat(self.source_ids, repeats, axis=0))
        return self.model.backbone.initial_decoding_state(batch_size, max_length,
                                                          source=(encoded, mask))

    def decode(self, token_ids, state, index):
        hidden, state = self.model.backbone.decode(token_ids, state, index)
        logits = self.model.step_logits(hidden, token_ids)
        if self.model.copy is not None:
            encoded, mask, ids = self._rows
            logits = self.model.copy(logits, hidden, encoded, mask, ids)
        return logits, state
