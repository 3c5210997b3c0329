"""The Zaremba et al. (2014) word-level LSTM language model."""

import keras
from keras import ops

from layers import LSTMBlock, TokenAndPositionEmbedding


@keras.saving.register_keras_serializable(package="zoo")
class LSTMLM(keras.Model):
    """Embedding -> dropout -> stacked LSTM -> dropout -> softmax layer.

    "Recurrent Neural Network Regularization" (Zaremba, Sutskever & Vinyals 2014):
    dropout only on the non-recurrent connections, every weight uniform in
    [-init_scale, init_scale], trained with truncated BPTT over `sequence_length` steps
    with the state carried from one batch to the next (`call_with_state`).

    Args:
        vocab_size: number of token ids.
        hidden_dim: width of the embedding and of every recurrent layer.
        num_layers: stacked recurrent layers.
        dropout: dropout on the embedding, between layers and on the output.
        init_scale: every weight starts uniform in [-init_scale, init_scale] (the
            paper's 0.1 / 0.05 / 0.04); None keeps the Keras defaults.
        cell: `"lstm"` or `"gru"`.
        tie_embeddings: use the transposed embedding as the softmax weights (Press &
            Wolf 2016) instead of a separate Dense layer.
        sequence_length: the BPTT unroll length; recorded for the trainer, the model
            itself accepts any length.

    Decoding protocol: the state is the recurrent state, a list with one `[h, c]` (LSTM)
    or `[h]` (GRU) per layer, each [B, hidden_dim] in the compute dtype; `index` is
    ignored.

    Example:

    ```python
    model = LSTMLM(vocab_size=100, hidden_dim=32)
    logits = model(np.array([[1, 2, 3]]))  # [1, 3, 100]

    logits, states = model.call_with_state(np.array([[1, 2, 3]]))
    logits, states = model.call_with_state(np.array([[4, 5, 6]]), states)  # carry on
    ```
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_dim: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        init_scale: float | None = 0.1,
        cell: str = "lstm",
        tie_embeddings: bool = False,
        sequence_length: int = 35,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.init_scale = init_scale
        self.cell = cell
        self.tie_embeddings = tie_embeddings
        self.sequence_length = sequence_length

        if init_scale is None:  # the Keras defaults everywhere
            embeddings, weights, recurrent = "uniform", {}, {}
        else:
            # Serialized, so each weight draws its own values (a shared instance repeats them).
            uniform = keras.initializers.serialize(
                keras.initializers.RandomUniform(-init_scale, init_scale)
            )
            embeddings = uniform
            weights = dict(kernel_initializer=uniform, bias_initializer=uniform)
            recurrent = dict(recurrent_initializer=uniform, unit_forget_bias=False)

        self.embedding = TokenAndPositionEmbedding(
            vocab_size,
            sequence_length,
            hidden_dim,
            position="none",
            embeddings_initializer=embeddings,
            dropout=dropout,
            dtype=self.dtype_policy,
            name="embedding",
        )
        self.rnn = LSTMBlock(
            hidden_dim,
            num_layers=num_layers,
            dropout=dropout,
            cell=cell,
            dtype=self.dtype_policy,
            name="rnn",
            **weights,
            **recurrent,
        )
        self.head = None
        if not tie_embeddings:
            self.head = keras.layers.Dense(
                vocab_size, dtype=self.dtype_policy, name="head", **weights
            )

    def build(self, input_shape):
        self.embedding.build(input_shape)
        hidden_shape = (*input_shape, self.hidden_dim)
        self.rnn.build(hidden_shape)
        if self.head is not None:
            self.head.build(hidden_shape)

    def call(self, token_ids, training=None):
        logits, _ = self.call_with_state(token_ids, training=training)
        return logits

    def call_with_state(self, token_ids, states=None, training=None):
        """[B, T] ids and the previous states (None: zeros) -> (float32 logits, new states)."""
        x = self.embedding(token_ids, training=training)
        x, states = self.rnn(x, initial_state=states, training=training)
        logits = self.embedding.attend(x) if self.head is None else self.head(x)
        return ops.cast(logits, "float32"), states

    # Decoding protocol, shared with TransformerLM and driven by zoo.decoding.

    def initial_decoding_state(self, batch_size, max_length: int | None = None):
        """Zero states: one `[h, c]` (LSTM) or `[h]` (GRU) of [B, hidden_dim] per layer."""
        state_count = 2 if self.cell == "lstm" else 1
        zeros = ops.zeros((batch_size, self.hidden_dim), dtype=self.compute_dtype)
        return [[zeros] * state_count for _ in range(self.num_layers)]

    def decode(self, token_ids, state, index=None):
        """Feeds `token_ids` [B, t] after `state`; returns (float32 logits, new state)."""
        return self.call_with_state(token_ids, state, training=False)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "init_scale": self.init_scale,
                "cell": self.cell,
                "tie_embeddings": self.tie_embeddings,
                "sequence_length": self.sequence_length,
            }
        )
        return config
