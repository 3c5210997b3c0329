"""The BERT-style backbone: bidirectional Transformer blocks over a padded batch."""

import keras

from layers import EncoderBlock, TokenAndPositionEmbedding, get_activation
from layers.initializers import per_weight


@keras.saving.register_keras_serializable(package="zoo")
class TransformerEncoder(keras.Model):
    """A Transformer encoder (BERT, Devlin et al. 2019) that returns hidden states.

    Every position attends to every real position of its row; padded positions (where
    `padding_mask` is 0) are never attended to, so padding does not change a real position's
    output. Blocks are pre-LayerNorm with a final LayerNorm (Xiong et al. 2020), which trains
    without BERT's long warmup. Segment embeddings (sentence A / B, for next-sentence
    prediction and sentence pairs) are added when `num_segments` > 0.

    Args:
        vocab_size: number of token ids.
        sequence_length: the longest input (sizes the learned position table).
        num_layers, num_heads, hidden_dim, intermediate_dim: the shape (Turc et al. 2019
            name them L, A, H and 4H).
        dropout: dropout on the embeddings and on every residual branch.
        num_segments: segment-embedding table size (0: none).
        layer_norm_epsilon: epsilon of every LayerNorm.
        initializer_range: standard deviation of the normal initializer (BERT's 0.02).
        activation: the MLPs' activation by name (`layers.ACTIVATIONS`; BERT's exact "gelu").
        norm_first: pre-LayerNorm blocks and a final LayerNorm (True, the zoo's default), or
            BERT's own layout (False): a LayerNorm on the embeddings and post-LayerNorm blocks,
            which published BERT checkpoints need.
        pooler: BERT's pooler, a tanh Dense layer on the first ([CLS]) position, that a
            classifier pooling "cls" reads through (`pooled`).
        position: `"learned"` (BERT's), `"sinusoidal"` or `"none"` absolute positions.
        rotary: rotary position embeddings in every attention layer (usually with
            `position="none"`): attention sees relative offsets from the first step, where a
            learned table must first be learned.

    `call(token_ids, padding_mask=None, segment_ids=None)` maps [B, T] ids (and [B, T] masks
    and segments; no mask means every position is real) to hidden states [B, T, hidden_dim].

    Example:

    ```python
    encoder = TransformerEncoder(vocab_size=100, sequence_length=16, num_layers=2,
                                 num_heads=2, hidden_dim=16)
    hidden = encoder(np.array([[5, 6, 7, 0]]), padding_mask=np.array([[1, 1, 1, 0]]))
    ```
    """

    def __init__(
        self,
        vocab_size: int,
        sequence_length: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int | None = None,
        dropout: float = 0.1,
        num_segments: int = 0,
        layer_norm_epsilon: float = 1e-12,
        initializer_range: float = 0.02,
        activation: str = "gelu",
        norm_first: bool = True,
        pooler: bool = False,
        position: str = "learned",
        rotary: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.sequence_length = sequence_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim or 4 * hidden_dim
        self.dropout = dropout
        self.num_segments = num_segments
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.activation = activation
        self.norm_first = norm_first
        self.pooler = pooler
        self.position = position
        self.rotary = rotary

        initializer = per_weight(keras.initializers.TruncatedNormal(stddev=initializer_range))
        self.embedding = TokenAndPositionEmbedding(
            vocab_size,
            sequence_length,
            hidden_dim,
            position=position,
            embeddings_initializer=initializer,
            dropout=dropout if norm_first else 0.0,  # post-LN: dropout after the norm
            dtype=self.dtype_policy,
            name="embedding",
        )
        self.segment_embedding = None
        if num_segments:
            self.segment_embedding = keras.layers.Embedding(
                num_segments,
                hidden_dim,
                embeddings_initializer=initializer,
                dtype=self.dtype_policy,
                name="segment_embedding",
            )
        self.blocks = [
            EncoderBlock(
                num_heads,
                self.intermediate_dim,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                activation=get_activation(activation),
                norm_first=norm_first,
                rotary=rotary,
                kernel_initializer=initializer,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        # Pre-LN ends in a LayerNorm; BERT's post-LN starts with one, on the embeddings (and
        # its dropout after it).
        norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy,
            name="final_norm" if norm_first else "embedding_norm",
        )
        self.final_norm, self.embedding_norm = (norm, None) if norm_first else (None, norm)
        if not norm_first:
            self.embedding_dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.pooler_dense = None
        if pooler:
            self.pooler_dense = keras.layers.Dense(
                hidden_dim, activation="tanh", kernel_initializer=initializer,
                dtype=self.dtype_policy, name="pooler")
        self._initializer = initializer

    def build(self, input_shape):
        self.embedding.build(input_shape)
        hidden_shape = (*input_shape, self.hidden_dim)
        if self.segment_embedding is not None:
            self.segment_embedding.build(input_shape)
        for block in self.blocks:
            block.build(hidden_shape)
        (self.final_norm or self.embedding_norm).build(hidden_shape)
        if self.pooler_dense is not None:
            self.pooler_dense.build((input_shape[0], self.hidden_dim))

    def call(self, token_ids, padding_mask=None, segment_ids=None, training=None):
        x = self.embedding(token_ids, training=training)
        if self.segment_embedding is not None:
            if segment_ids is None:
                segment_ids = keras.ops.zeros_like(token_ids)
            x = x + self.segment_embedding(segment_ids)
        if self.embedding_norm is not None:
            x = self.embedding_dropout(self.embedding_norm(x), training=training)
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask, training=training)
        return x if self.final_norm is None else self.final_norm(x)

    def pooled(self, hidden):
        """BERT's pooled output, tanh(W h[CLS] + b), of hidden states [B, T, D]; without a
        pooler, h[CLS] itself."""
        first = hidden[:, 0]
        return first if self.pooler_dense is None else self.pooler_dense(first)

    # Every position sees the whole (unpadded) input: a task pools a sequence
    # at its last real token (causal) or its first ([CLS]) and reads padding masks accordingly.
    causal = False

    @property
    def token_embedding(self) -> TokenAndPositionEmbedding:
        """The token matrix, whose `attend` is a tied output projection (the MLM head)."""
        return self.embedding

    def head_initializers(self) -> dict:
        return {"kernel_initializer": self._initializer}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "sequence_length": self.sequence_length,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "num_segments": self.num_segments,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
                "activation": self.activation,
                "norm_first": self.norm_first,
                "pooler": self.pooler,
                "position": self.position,
                "rotary": self.rotary,
            }
        )
        return config
