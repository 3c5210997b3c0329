"""Sequence-to-sequence backbones: an encoder reads the source, a decoder writes the target.

Both speak the incremental protocol with an encoded source (`tasks.protocols`): `encode` once
per source, `initial_decoding_state(batch, max_length, source=(encoded, mask))` computes what
every later step needs from it (a Transformer's cross-attention keys and values per layer), and
`decode` then runs target tokens against the cache.
"""

import keras
from keras import ops

from layers import TokenAndPositionEmbedding
from zoo.models.decoder import TransformerDecoder
from zoo.models.encoder import TransformerEncoder


@keras.saving.register_keras_serializable(package="zoo")
class TransformerSeq2Seq(keras.Model):
    """An encoder-decoder Transformer (Vaswani et al. 2017) with pre-LayerNorm blocks.

    Args:
        vocab_size: the (shared) vocabulary, or the source's when `target_vocab_size` is set.
        sequence_length: the longest source and target, in tokens.
        num_layers: blocks in the encoder and in the decoder.
        num_heads, hidden_dim, intermediate_dim, dropout: as the encoder and decoder take.
        target_vocab_size: a separate target vocabulary (None: shared).

    The output layer a task puts on it is usually tied to the decoder's token embedding.

    `call({"source_ids", "source_mask", "target_ids"})` -> decoder hidden states [B, T, D].
    """

    causal = True  # the target side: position t sees target tokens <= t (and all the source)

    def __init__(self, vocab_size: int, sequence_length: int, num_layers: int, num_heads: int,
                 hidden_dim: int, intermediate_dim: int | None = None, dropout: float = 0.1,
                 target_vocab_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.sequence_length = sequence_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim or 4 * hidden_dim
        self.dropout = dropout
        self.target_vocab_size = target_vocab_size
        shape = dict(num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
                     intermediate_dim=self.intermediate_dim, dropout=dropout,
                     dtype=self.dtype_policy)
        self.encoder = TransformerEncoder(vocab_size, sequence_length, name="encoder", **shape)
        self.decoder = TransformerDecoder(target_vocab_size or vocab_size, sequence_length,
                                          cross_attention=True, name="decoder", **shape)

    def build(self, input_shape):
        shape = input_shape["target_ids"] if isinstance(input_shape, dict) else input_shape
        source = input_shape["source_ids"] if isinstance(input_shape, dict) else input_shape
        self.encoder.build(source)
        self.decoder.build(shape)

    def call(self, features, training=None):
        encoded = self.encode(features["source_ids"], features["source_mask"], training=training)
        return self.decode_sequence(features["target_ids"], encoded, features["source_mask"],
                                    training=training)

    def decode_sequence(self, target_ids, encoded, source_mask, training=None):
        """Hidden states [B, T, D] of a whole target over encoded sources (a task head that
        reads the encoding too, such as a copy mechanism, encodes once and calls this)."""
        return self.decoder(target_ids, encoder_outputs=encoded,
                            encoder_padding_mask=source_mask, training=training)

    @property
    def _default_save_signature(self):
        # Keras traces `self(inputs)` at its build shapes as a default SavedModel signature of
        # every Model inside an export, but this one reads a dict of source and target.
        # Exports carry the task's own signatures instead.
        return None

    def encode(self, source_ids, source_mask, training=None):
        """The source's hidden states [B, S, D] (computed once per source when decoding)."""
        return self.encoder(source_ids, padding_mask=source_mask, training=training)

    @property
    def token_embedding(self):
        return self.decoder.token_embedding

    def head_initializers(self) -> dict:
        return self.decoder.head_initializers()

    @property
    def context_length(self) -> int:
        return self.sequence_length

    def initial_decoding_state(self, batch_size, max_length, source=None):
        return self.decoder.initial_decoding_state(batch_size, max_length, source=source)

    def decode(self, token_ids, state, index):
        return self.decoder.decode(token_ids, state, index)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size,
            "sequence_length": self.sequence_length,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "target_vocab_size": self.target_vocab_size,
        })
        return config


@keras.saving.register_keras_serializable(package="zoo")
class LSTMSeq2SeqAttention(keras.Model):
    """The attention LSTM of TensorFlow's "NMT with attention" tutorial (Luong et al. 2015).

    A bidirectional LSTM encodes the source (the two directions summed); an LSTM decoder reads
    the target, and at each step Luong's "general" attention scores every real source position
    against the decoder's output, and tanh(W [output; context]) is the hidden state a head reads.

    Args:
        vocab_size: the shared vocabulary (or the source's, with `target_vocab_size`).
        hidden_dim: embedding and LSTM width.
        sequence_length: the longest source and target (recorded for the task).
        dropout: on the embeddings and the attention output.
        target_vocab_size: a separate target vocabulary (None: shared).

    Decoding state: the decoder LSTM's [h, c], the encoded source and its mask.
    """

    causal = True

    def __init__(self, vocab_size: int, hidden_dim: int, sequence_length: int = 32,
                 dropout: float = 0.1, target_vocab_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_dim = hidden_dim
        self.sequence_length = sequence_length
        self.dropout = dropout
        self.target_vocab_size = target_vocab_size
        policy = self.dtype_policy

        def embedding(size, name):
            return TokenAndPositionEmbedding(size, sequence_length, hidden_dim, position="none",
                                             dropout=dropout, dtype=policy, name=name)

        self.source_embedding = embedding(vocab_size, "source_embedding")
        self.target_embedding = embedding(target_vocab_size or vocab_size, "target_embedding")
        self.encoder = keras.layers.Bidirectional(
            keras.layers.LSTM(hidden_dim, return_sequences=True, dtype=policy),
            merge_mode="sum", dtype=policy, name="encoder",
        )
        self.decoder = keras.layers.LSTM(hidden_dim, return_sequences=True, return_state=True,
                                         dtype=policy, name="decoder")
        self.attention_weights = keras.layers.Dense(hidden_dim, use_bias=False, dtype=policy,
                                                    name="attention")
        self.combine = keras.layers.Dense(hidden_dim, activation="tanh", dtype=policy,
                                          name="combine")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy)

    def build(self, input_shape):
        shape = input_shape["target_ids"] if isinstance(input_shape, dict) else input_shape
        source = input_shape["source_ids"] if isinstance(input_shape, dict) else input_shape
        self.source_embedding.build(source)
        self.target_embedding.build(shape)
        self.encoder.build((*source, self.hidden_dim))
        self.decoder.build((*shape, self.hidden_dim))
        self.attention_weights.build((*source, self.hidden_dim))
        self.combine.build((*shape, 2 * self.hidden_dim))

    @property
    def _default_save_signature(self):
        # Keras traces `self(inputs)` at its build shapes as a default SavedModel signature of
        # every Model inside an export, but this one reads a dict of source and target.
        # Exports carry the task's own signatures instead.
        return None

    def encode(self, source_ids, source_mask, training=None):
        x = self.source_embedding(source_ids, training=training)
        mask = ops.cast(source_mask, "bool")
        return self.encoder(x, mask=mask, training=training)

    def call(self, features, training=None):
        encoded = self.encode(features["source_ids"], features["source_mask"], training=training)
        return self.decode_sequence(features["target_ids"], encoded, features["source_mask"],
                                    training=training)

    def decode_sequence(self, target_ids, encoded, source_mask, training=None):
        """Hidden states [B, T, D] of a whole target over encoded sources."""
        state = self.initial_decoding_state(ops.shape(encoded)[0], None,
                                            source=(encoded, source_mask))
        hidden, _ = self._step(target_ids, state, training=training)
        return hidden

    def _step(self, target_ids, state, training=None):
        """Target tokens after `state` -> (hidden states [B, t, D], the new state)."""
        x = self.target_embedding(target_ids, training=training)
        outputs, h, c = self.decoder(x, initial_state=[state["h"], state["c"]], training=training)
        keys = self.attention_weights(state["encoded"])  # Luong's general score: out^T W enc
        scores = ops.einsum("btd,bsd->bts", outputs, keys)
        visible = ops.cast(state["source_mask"], "bool")[:, None, :]
        scores = ops.where(visible, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        context = ops.einsum("bts,bsd->btd", ops.cast(weights, outputs.dtype), state["encoded"])
        hidden = self.combine(ops.concatenate([outputs, context], axis=-1))
        hidden = self.dropout_layer(hidden, training=training)
        return hidden, {**state, "h": h, "c": c}

    @property
    def token_embedding(self):
        return self.target_embedding

    def head_initializers(self) -> dict:
        return {}

    @property
    def context_length(self) -> int:
        return self.sequence_length

    def initial_decoding_state(self, batch_size, max_length, source=None):
        if source is None:
            raise ValueError("the attention LSTM decodes against an encoded `source`")
        encoded, mask = source
        zeros = ops.zeros((batch_size, self.hidden_dim), dtype=self.compute_dtype)
        return {"h": zeros, "c": zeros, "encoded": encoded, "source_mask": mask}

    def decode(self, token_ids, state, index=None):
        return self._step(token_ids, state, training=False)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size,
            "hidden_dim": self.hidden_dim,
            "sequence_length": self.sequence_length,
            "dropout": self.dropout,
            "target_vocab_size": self.target_vocab_size,
        })
        return config
