"""Token + position embedding with a tied output projection."""

import keras
import keras_hub
from keras import ops

from layers.initializers import per_weight

POSITIONS = ("learned", "sinusoidal", "none")


@keras.saving.register_keras_serializable(package="zoo")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Embeds token ids and adds an absolute position signal.

    One layer owns the token matrix so the model's output projection can reuse it
    (`attend`, Press & Wolf 2016), which saves `vocab_size * embedding_dim`
    parameters and usually helps small language models.

    Args:
        vocab_size: number of token ids.
        sequence_length: the longest sequence the layer will see; sizes the learned
            position table (ignored by the other position kinds).
        embedding_dim: width of the embeddings.
        position: `"learned"` (GPT-2), `"sinusoidal"` (Vaswani et al.), or `"none"`
            (for rotary attention or recurrent models, which get order elsewhere).
        embeddings_initializer: initializer for the token and learned position tables.
        dropout: dropout rate applied to the summed embeddings.

    Example:

    ```python
    embedding = TokenAndPositionEmbedding(vocab_size=100, sequence_length=16, embedding_dim=8)
    x = embedding(np.array([[1, 2, 3]]))  # [1, 3, 8]
    logits = embedding.attend(x)  # [1, 3, 100]
    ```
    """

    def __init__(
        self,
        vocab_size: int,
        sequence_length: int,
        embedding_dim: int,
        position: str = "learned",
        embeddings_initializer="uniform",
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
        self.vocab_size = vocab_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.position = position
        self.embeddings_initializer = per_weight(embeddings_initializer)
        self.dropout = dropout

        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocab_size,
            embedding_dim,
            tie_weights=True,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        if position == "learned":
            self.position_embedding = keras_hub.layers.PositionEmbedding(
                sequence_length,
                initializer=self.embeddings_initializer,
                dtype=self.dtype_policy,
                name="position_embedding",
            )
        elif position == "sinusoidal":
            # Always float32: sin/cos of positions in the hundreds lose most of their
            # digits in float16. The result is cast down after.
            self.position_embedding = keras_hub.layers.SinePositionEncoding(
                dtype="float32", name="position_embedding"
            )
        else:
            self.position_embedding = None
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        if self.position_embedding is not None:
            self.position_embedding.build((*input_shape, self.embedding_dim))

    def call(self, inputs, start_index=0, reverse=False, training=None):
        """Token ids [B, T] -> embeddings [B, T, D]; with `reverse`, [B, T, D] -> logits.

        `start_index` is the absolute position of `inputs[:, 0]` (cached decoding).
        """
        if reverse:
            return self.token_embedding(inputs, reverse=True)
        x = self.token_embedding(inputs)
        if self.position_embedding is not None:
            positions = self.position_embedding(x, start_index=start_index)
            x = x + ops.cast(positions, x.dtype)
        return self.dropout_layer(x, training=training)

    def attend(self, x):
        """Projects hidden states [B, T, D] to logits [B, T, V] with the token matrix."""
        # Through __call__, so a functional model records (and saves) it as this layer.
        return self(x, reverse=True)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "sequence_length": self.sequence_length,
                "embedding_dim": self.embedding_dim,
                "position": self.position,
                "embeddings_initializer": self.embeddings_initializer,
                "dropout": self.dropout,
            }
        )
        return config
