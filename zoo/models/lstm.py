"""The Zaremba et al. (2014) recurrent backbone: embedding -> dropout -> stacked LSTM -> dropout."""

import keras
from keras import ops

from layers import LSTMBlock, TokenAndPositionEmbedding
from layers.initializers import per_weight


@keras.saving.register_keras_serializable(package="zoo")
class LSTMBackbone(keras.Model):
    """A stacked LSTM (or GRU) over token embeddings that returns hidden states.

    "Recurrent Neural Network Regularization" (Zaremba, Sutskever & Vinyals 2014): dropout only
    on the non-recurrent connections, every weight uniform in [-init_scale, init_scale] (a head
    on this backbone starts the same way), trained with truncated BPTT over `sequence_length`
    steps with the state carried from one batch to the next (`call_with_state`).

    Args:
        vocab_size: number of token ids.
        hidden_dim: width of the embedding and of every recurrent layer.
        num_layers: stacked recurrent layers.
        dropout: dropout on the embedding, between layers and on the output.
        init_scale: every weight starts uniform in [-init_scale, init_scale] (the paper's
            0.1 / 0.05 / 0.04); None keeps the Keras defaults.
        cell: `"lstm"` or `"gru"`.
        sequence_length: the BPTT unroll length; recorded for the task, the backbone itself
            accepts any length.

    Decoding protocol: the state is the recurrent state, a list with one `[h, c]` (LSTM) or
    `[h]` (GRU) per layer, each [B, hidden_dim] in the compute dtype; `index` is ignored.

    Example:

    ```python
    backbone = LSTMBackbone(vocab_size=100, hidden_dim=32)
    hidden = backbone(np.array([[1, 2, 3]]))  # [1, 3, 32]

    hidden, states = backbone.call_with_state(np.array([[1, 2, 3]]))
    hidden, states = backbone.call_with_state(np.array([[4, 5, 6]]), states)  # carry on
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
        self.sequence_length = sequence_length

        if init_scale is None:  # the Keras defaults everywhere
            embeddings, self._uniform, recurrent = "uniform", {}, {}
        else:
            uniform = per_weight(keras.initializers.RandomUniform(-init_scale, init_scale))
            embeddings = uniform
            self._uniform = dict(kernel_initializer=uniform, bias_initializer=uniform)
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
            **self._uniform,
            **recurrent,
        )

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.rnn.build((*input_shape, self.hidden_dim))

    def call(self, token_ids, training=None):
        hidden, _ = self.call_with_state(token_ids, training=training)
        return hidden

    def call_with_state(self, token_ids, states=None, training=None):
        """[B, T] ids and the previous states (None: zeros) -> (hidden states, new states)."""
        x = self.embedding(token_ids, training=training)
        return self.rnn(x, initial_state=states, training=training)

    # Each position sees only itself and earlier ones: a task pools a sequence
    # at its last real token (causal) or its first ([CLS]) and reads padding masks accordingly.
    causal = True

    @property
    def token_embedding(self) -> TokenAndPositionEmbedding:
        return self.embedding

    def head_initializers(self) -> dict:
        """Zaremba's uniform init for a head's kernel and bias (Keras defaults without it)."""
        return dict(self._uniform)

    # Decoding protocol, driven by tasks.decoding.

    def initial_decoding_state(self, batch_size, max_length: int | None = None, source=None):
        """Zero states: one `[h, c]` (LSTM) or `[h]` (GRU) of [B, hidden_dim] per layer."""
        state_count = 2 if self.cell == "lstm" else 1
        zeros = ops.zeros((batch_size, self.hidden_dim), dtype=self.compute_dtype)
        return [[zeros] * state_count for _ in range(self.num_layers)]

    def decode(self, token_ids, state, index=None):
        """Feeds `token_ids` [B, t] after `state`; returns (hidden states, new state)."""
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
                "sequence_length": self.sequence_length,
            }
        )
        return config
