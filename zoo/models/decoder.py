"""The GPT backbone: token + position embedding, pre-LayerNorm causal blocks, a final LayerNorm."""

import math

import keras
from keras import ops

from layers import (
    CachedMultiHeadAttention,
    TokenAndPositionEmbedding,
    TransformerBlock,
    get_activation,
)
from layers.initializers import per_weight


@keras.saving.register_keras_serializable(package="zoo")
class TransformerDecoder(keras.Model):
    """A decoder-only Transformer (GPT-2, Radford et al. 2019) that returns hidden states.

    A task puts its head on top: the causal LM's tied softmax, a classifier's pooling, or a
    translation model's output layer. With `cross_attention=True` every block also attends to
    an encoded source (the decoder half of a sequence-to-sequence Transformer).

    Initialization follows GPT-2 as nanoGPT does: every kernel and embedding is
    normal(0, initializer_range), biases are zero, and the projections that write into the
    residual stream are scaled by 1/sqrt(2 * num_layers) so the stream's variance does not grow
    with depth.

    Args:
        vocab_size: number of token ids.
        sequence_length: the longest context (sizes the learned position table).
        num_layers: number of Transformer blocks.
        num_heads: attention heads per block.
        hidden_dim: width of the residual stream.
        intermediate_dim: width of the MLPs; defaults to 4 * hidden_dim.
        dropout: dropout on the embeddings and on every residual branch.
        position: `"learned"`, `"sinusoidal"` or `"none"` absolute positions.
        rotary: rotary position embeddings in every attention layer (usually with
            `position="none"`).
        cross_attention: add cross-attention over an encoded source to every block.
        layer_norm_epsilon: epsilon of every LayerNorm.
        initializer_range: standard deviation of the normal initializer.
        activation: the MLPs' activation by name (`layers.ACTIVATIONS`): "gelu" (exact) or
            "gelu_tanh" (GPT-2's approximation, which its published weights were trained with).

    `call(token_ids)` maps [B, T] ids to hidden states [B, T, hidden_dim] in the compute dtype
    (with cross-attention: `call(token_ids, encoder_outputs, encoder_padding_mask)`).

    Decoding protocol (`initial_decoding_state`, `decode`): the state is one `(keys, values)`
    self-attention cache per layer, each [B, max_length, num_heads, head_dim]; with
    cross-attention it also holds each layer's source keys and values, computed once from the
    encoded source when the state is made, and the source's padding mask.

    Example:

    ```python
    decoder = TransformerDecoder(vocab_size=100, sequence_length=32, num_layers=2,
                                 num_heads=2, hidden_dim=16)
    hidden = decoder(np.array([[1, 2, 3]]))  # [1, 3, 16]

    state = decoder.initial_decoding_state(batch_size=1, max_length=32)
    hidden, state = decoder.decode(np.array([[1, 2, 3]]), state, index=0)  # prefill
    hidden, state = decoder.decode(np.array([[4]]), state, index=3)  # one more token
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
        cross_attention: bool = False,
        layer_norm_epsilon: float = 1e-5,
        initializer_range: float = 0.02,
        activation: str = "gelu",
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
        self.cross_attention = cross_attention
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.activation = activation

        initializer = per_weight(keras.initializers.RandomNormal(stddev=initializer_range))
        residual = per_weight(
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
                use_cross_attention=cross_attention,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                rotary=rotary,
                activation=get_activation(activation),
                kernel_initializer=initializer,
                output_kernel_initializer=residual,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="final_norm"
        )
        self._initializer = initializer

    def build(self, input_shape):
        self.embedding.build(input_shape)
        hidden_shape = (*input_shape, self.hidden_dim)
        for block in self.blocks:
            if self.cross_attention:
                block.build(hidden_shape, (input_shape[0], None, self.hidden_dim))
            else:
                block.build(hidden_shape)
        self.final_norm.build(hidden_shape)

    def call(self, token_ids, encoder_outputs=None, encoder_padding_mask=None, training=None):
        x = self.embedding(token_ids, training=training)
        for block in self.blocks:
            x = block(
                x,
                encoder_outputs=encoder_outputs,
                encoder_padding_mask=encoder_padding_mask,
                training=training,
            )
        return self.final_norm(x)

    @property
    def _default_save_signature(self):
        # Keras traces `self(inputs)` at its build shapes as a default SavedModel signature of
        # every Model inside an export, but with cross-attention this one also needs the
        # encoded source. Exports carry the task's own signatures instead.
        return None if self.cross_attention else super()._default_save_signature

    # What a task's head needs.

    # Each position sees only itself and earlier ones: a task pools a sequence
    # at its last real token (causal) or its first ([CLS]) and reads padding masks accordingly.
    causal = True

    @property
    def token_embedding(self) -> TokenAndPositionEmbedding:
        """The token matrix, whose `attend` is a tied output projection."""
        return self.embedding

    def head_initializers(self) -> dict:
        """Initializers for a head on this backbone: GPT-2's normal(0, initializer_range)."""
        return {"kernel_initializer": self._initializer}

    # Decoding protocol, driven by tasks.decoding.

    @property
    def context_length(self) -> int:
        """The longest sequence the model attends over (its position table and cache size)."""
        return self.sequence_length

    def initial_decoding_state(self, batch_size, max_length: int, source=None):
        """Empty self-attention caches: a `(keys, values)` pair of [B, max_length, num_heads,
        head_dim] per layer. Separate tensors rather than one stacked array, so a step rewrites
        each layer's cache in place of copying (unstacking and restacking) all of them.

        With cross-attention, `source` is `(encoder_outputs [B, S, D], padding_mask [B, S])`,
        and the state is a dict: the caches under "self", each layer's source keys and values
        under "cross" (computed here, once per source) and the mask under "source_mask".
        """
        shape = (batch_size, max_length, self.num_heads, self.hidden_dim // self.num_heads)
        caches = tuple(
            (ops.zeros(shape, self.compute_dtype), ops.zeros(shape, self.compute_dtype))
            for _ in range(self.num_layers)
        )
        if not self.cross_attention:
            return caches
        if source is None:
            raise ValueError("a decoder with cross-attention needs the encoded `source`")
        encoded, mask = source
        cross = tuple(block.cross_attention_cache(encoded) for block in self.blocks)
        return {"self": caches, "cross": cross, "source_mask": mask}

    def decode(self, token_ids, state, index):
        """Runs `token_ids` [B, t], at absolute positions index..index+t-1, against the cache.

        Returns hidden states [B, t, hidden_dim] and the state with those positions filled in.
        A prefill of the whole prompt followed by one-token steps matches the full forward pass.
        """
        caches = state["self"] if self.cross_attention else state
        steps = ops.shape(token_ids)[1]
        x = self.embedding(token_ids, start_index=index, training=False)
        # Where to write and what to see is the same for every layer: computed once.
        step = CachedMultiHeadAttention.cache_step(caches[0], steps, index)
        new_caches = []
        for i, (block, cache) in enumerate(zip(self.blocks, caches, strict=True)):
            cross = {}
            if self.cross_attention:
                cross = dict(
                    cross_cache=state["cross"][i], encoder_padding_mask=state["source_mask"]
                )
            x, cache = block(
                x, cache=cache, cache_index=index, cache_step=step, training=False, **cross
            )
            new_caches.append(cache)
        x = self.final_norm(x)
        if self.cross_attention:
            return x, {**state, "self": tuple(new_caches)}
        return x, tuple(new_caches)

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
                "cross_attention": self.cross_attention,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
                "activation": self.activation,
            }
        )
        return config
