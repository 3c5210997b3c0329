"""A bag-of-words backbone: each position is its word's embedding (plus its bigram's), no context.

With mean pooling and a linear classifier on top this is fastText (Joulin et al. 2017): the
baseline a text classifier should beat. Bigrams are hashed into `bigram_buckets` rows.
"""

import keras
from keras import ops

from layers.initializers import per_weight


@keras.saving.register_keras_serializable(package="zoo")
class BagOfWords(keras.Model):
    """Token (and hashed bigram) embeddings as "hidden states" [B, T, hidden_dim].

    Args:
        vocab_size: number of token ids.
        hidden_dim: embedding width.
        sequence_length: the longest input (recorded for the task; any length works).
        bigram_buckets: rows of the hashed bigram table (0: unigrams only).
        dropout: dropout on the embeddings.

    Example:

    ```python
    backbone = BagOfWords(vocab_size=1000, hidden_dim=32)
    hidden = backbone(np.array([[5, 6, 7]]), padding_mask=np.array([[1, 1, 1]]))
    ```
    """

    causal = False  # order-free: a classifier pools it by the mean over real positions
    pooling = "mean"

    def __init__(self, vocab_size: int, hidden_dim: int, sequence_length: int = 128,
                 bigram_buckets: int = 0, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_dim = hidden_dim
        self.sequence_length = sequence_length
        self.bigram_buckets = bigram_buckets
        self.dropout = dropout
        initializer = per_weight(keras.initializers.RandomUniform(-0.05, 0.05))
        self.embedding = keras.layers.ReversibleEmbedding(
            vocab_size, hidden_dim, embeddings_initializer=initializer, dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.bigrams = None
        if bigram_buckets:
            self.bigrams = keras.layers.Embedding(
                bigram_buckets, hidden_dim, embeddings_initializer=initializer,
                dtype=self.dtype_policy, name="bigram_embedding",
            )
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.embedding.build(input_shape)
        if self.bigrams is not None:
            self.bigrams.build(input_shape)

    def call(self, token_ids, padding_mask=None, segment_ids=None, training=None):
        x = self.embedding(token_ids)
        if self.bigrams is not None:
            ids = ops.cast(token_ids, "int64")
            previous = ops.pad(ids[:, :-1], [[0, 0], [1, 0]])
            x = x + self.bigrams(ops.mod(previous * self.vocab_size + ids, self.bigram_buckets))
        return self.dropout_layer(x, training=training)

    @property
    def token_embedding(self):
        return self

    def attend(self, hidden):
        return self.embedding(hidden, reverse=True)

    def head_initializers(self) -> dict:
        return {}

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size,
            "hidden_dim": self.hidden_dim,
            "sequence_length": self.sequence_length,
            "bigram_buckets": self.bigram_buckets,
            "dropout": self.dropout,
        })
        return config
