"""A GPT: token + position embedding, pre-LayerNorm causal blocks, final LayerNorm, tied head."""

import math

import keras
from keras import ops

from layers import CachedMultiHeadAttention, TokenAndPositionEmbedding, TransformerBlock


@keras.saving.register_keras_serializable(package="zoo")
class TransformerLM(keras.Model):
    """A decoder-only transformer language model (GPT-2, Radford et al. 2019).

    Initialization follows GPT-2 as nanoGPT does: every kernel and embedding is
    normal(0, initializer_range), biases are zero, and the projections that write into
    the residual stream are scaled by 1/sqrt(2 * num_layers) so the stream's variance
    does not grow with depth.

    Args:
        vocab_size: number of token ids.
        sequence_length: the longest context (sizes the learned position table).
        num_layers: number of transformer blocks.
        num_heads: attention heads per block.
        hidden_dim: width of the residual stream.
        intermediate_dim: width of the MLPs; defaults to 4 * hidden_dim.
        dropout: dropout on the embeddings and on every residual branch.
        position: `"learned"`, `"sinusoidal"` or `"none"` absolute positions.
        rotary: rotary position embeddings in every attention layer (usually with
            `position="none"`).
        tie_embeddings: project to logits with the transposed token embedding instead
            of a separate output matrix.
        layer_norm_epsilon: epsilon of every LayerNorm.
        initializer_range: standard deviation of the normal initializer.

    `call(token_ids)` maps [B, T] int ids to float32 logits [B, T, vocab_size]; always
    float32, so mixed-precision policies can feed a float32 loss.

    Decoding protocol (see `initial_decoding_state` and `decode`): the state is one
    `(keys, values)` cache per layer, each [B, max_length, num_heads, head_dim] in the
    compute dtype.

    Example:

    ```python
    model = TransformerLM(vocab_size=100, sequence_length=32, num_layers=2, num_heads=2,
                          hidden_dim=16)
    logits = model(np.array([[1, 2, 3]]))  # [1, 3, 100]

    state = model.initial_decoding_state(batch_size=1, max_length=32)
    logits, state = model.decode(np.array([[1, 2, 3]]), state, index=0)  # prefill
    logits, state = model.decode(np.array([[4]]), state, index=3)  # one more token
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
        dropout: float = 0.0,
        position: str = "learned",
        rotary: bool = False,
        tie_embeddings: bool = True,
        layer_norm_epsilon: float = 1e-5,
        initializer_range: float = 0.02,
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
        self.position = position
        self.rotary = rotary
        self.tie_embeddings = tie_embeddings
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range

        # Serialized, so each weight draws its own values (a shared instance repeats them).
        initializer = keras.initializers.serialize(
            keras.initializers.RandomNormal(stddev=initializer_range)
        )
        residual_initializer = keras.initializers.serialize(
            keras.initializers.RandomNormal(stddev=initializer_range / math.sqrt(2 * num_layers))
        )
        self.embedding = TokenAndPositionEmbedding(
            vocab_size,
            sequence_length,
            hidden_dim,
            position=position,
            embeddings_initializer=initializer,
            dropout=dropout,
            dtype=self.dtype_policy,
            name="embedding",
        )
        self.blocks = [
            TransformerBlock(
                num_heads,
                self.intermediate_dim,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                rotary=rotary,
                kernel_initializer=initializer,
                output_kernel_initializer=residual_initializer,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="final_norm"
        )
        self.head = None
        if not tie_embeddings:
            self.head = keras.layers.Dense(
                vocab_size,
                use_bias=False,
                kernel_initializer=initializer,
                dtype=self.dtype_policy,
                name="head",
            )

    def build(self, input_shape):
        self.embedding.build(input_shape)
        hidden_shape = (*input_shape, self.hidden_dim)
        for block in self.blocks:
            block.build(hidden_shape)
        self.final_norm.build(hidden_shape)
        if self.head is not None:
            self.head.build(hidden_shape)

    def call(self, token_ids, training=None):
        x = self.embedding(token_ids, training=training)
        for block in self.blocks:
            x = block(x, training=training)
        return self._logits(x)

    def _logits(self, x):
        x = self.final_norm(x)
        logits = self.embedding.attend(x) if self.head is None else self.head(x)
        return ops.cast(logits, "float32")

    # Decoding protocol, shared with LSTMLM and driven by zoo.decoding.

    @property
    def context_length(self) -> int:
        """The longest sequence the model attends over (its position table and cache size)."""
        return self.sequence_length

    def initial_decoding_state(self, batch_size, max_length: int):
        """Empty caches: a `(keys, values)` pair of [B, max_length, num_heads, head_dim] per layer.

        Separate tensors rather than one stacked array, so a step rewrites each layer's
        cache in place of copying (unstacking and restacking) all of them.
        """
        shape = (batch_size, max_length, self.num_heads, self.hidden_dim // self.num_heads)
        return tuple(
            (ops.zeros(shape, self.compute_dtype), ops.zeros(shape, self.compute_dtype))
            for _ in range(self.num_layers)
        )

    def decode(self, token_ids, state, index):
        """Runs `token_ids` [B, t], at absolute positions index..index+t-1, against the cache.

        Returns float32 logits [B, t, vocab_size] and the caches with those positions
        filled in. A prefill of the whole prompt followed by one-token steps matches the
        full forward pass.
        """
        batch, steps = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        x = self.embedding(token_ids, start_index=index, training=False)
        # Where to write and what to see is the same for every layer: computed once.
        step = CachedMultiHeadAttention.cache_step(state[0], steps, index)
        caches = []
        for block, cache in zip(self.blocks, state, strict=True):
            x, cache = block(x, cache=cache, cache_index=index, cache_step=step, training=False)
            caches.append(cache)
        # The head on [B*t, D]: a plain matmul instead of a tensordot's shape arithmetic.
        logits = self._logits(ops.reshape(x, (-1, self.hidden_dim)))
        return ops.reshape(logits, (batch, steps, self.vocab_size)), tuple(caches)

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
                "position": self.position,
                "rotary": self.rotary,
                "tie_embeddings": self.tie_embeddings,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
            }
        )
        return config
