"""Pre-LayerNorm transformer blocks: a causal decoder block and a bidirectional encoder block."""

import keras
from keras import ops

from layers.attention import CachedMultiHeadAttention
from layers.initializers import per_weight


@keras.saving.register_keras_serializable(package="zoo")
class FeedForward(keras.layers.Layer):
    """The position-wise MLP of a transformer block: Dense -> activation -> Dense.

    Example:

    ```python
    mlp = FeedForward(intermediate_dim=32)
    y = mlp(np.random.rand(2, 5, 8).astype("float32"))  # [2, 5, 8]
    ```
    """

    def __init__(
        self,
        intermediate_dim: int,
        activation="gelu",
        kernel_initializer="glorot_uniform",
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = intermediate_dim
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = per_weight(kernel_initializer)
        self.output_kernel_initializer = per_weight(output_kernel_initializer or kernel_initializer)

    def build(self, input_shape):
        self.expand = keras.layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="expand",
        )
        self.expand.build(input_shape)
        self.contract = keras.layers.Dense(
            input_shape[-1],
            kernel_initializer=self.output_kernel_initializer,
            dtype=self.dtype_policy,
            name="contract",
        )
        self.contract.build((*input_shape[:-1], self.intermediate_dim))

    def call(self, x):
        # Two Dense layers on [B, T, D] are tensordots: a dozen shape ops each, which a
        # one-token decoding step pays for on every layer. A [B*T, D] matmul needs none.
        shape = ops.shape(x)
        y = self.contract(self.expand(ops.reshape(x, (-1, shape[-1]))))
        return ops.reshape(y, shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": self.kernel_initializer,
                "output_kernel_initializer": self.output_kernel_initializer,
            }
        )
        return config


class _PreNormBlock(keras.layers.Layer):
    """What both blocks share: arguments, sub-layers and config."""

    def __init__(
        self,
        num_heads: int,
        intermediate_dim: int,
        dropout: float = 0.0,
        activation="gelu",
        layer_norm_epsilon: float = 1e-5,
        rotary: bool = False,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.rotary = rotary
        self.kernel_initializer = per_weight(kernel_initializer)
        self.output_kernel_initializer = per_weight(output_kernel_initializer or kernel_initializer)

        self.self_attention_norm = self._layer_norm("self_attention_norm")
        self.self_attention = self._attention("self_attention", rotary=rotary)
        self.feedforward_norm = self._layer_norm("feedforward_norm")
        self.feedforward = FeedForward(
            intermediate_dim,
            activation=self.activation,
            kernel_initializer=self.kernel_initializer,
            output_kernel_initializer=self.output_kernel_initializer,
            dtype=self.dtype_policy,
            name="feedforward",
        )
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def _layer_norm(self, name):
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def _attention(self, name, **kwargs):
        return CachedMultiHeadAttention(
            self.num_heads,
            kernel_initializer=self.kernel_initializer,
            output_kernel_initializer=self.output_kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
            **kwargs,
        )

    def build(self, x_shape):
        self.self_attention_norm.build(x_shape)
        self.self_attention.build(x_shape)
        self.feedforward_norm.build(x_shape)
        self.feedforward.build(x_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "rotary": self.rotary,
                "kernel_initializer": self.kernel_initializer,
                "output_kernel_initializer": self.output_kernel_initializer,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class TransformerBlock(_PreNormBlock):
    """A GPT decoder block: causal self-attention, optional cross-attention, then an MLP.

    Pre-LayerNorm (GPT-2): each sub-block is `x + dropout(f(layer_norm(x)))`, which
    keeps the residual stream an identity path and trains stably (Xiong et al. 2020). The
    model adds the final LayerNorm.

    Args:
        num_heads: attention heads; must divide the input width.
        intermediate_dim: width of the MLP's hidden layer.
        dropout: dropout rate on each residual branch.
        activation: the MLP's activation.
        layer_norm_epsilon: epsilon of every LayerNorm.
        use_cross_attention: add a cross-attention sub-block over `encoder_outputs`
            (a seq2seq decoder). Pass `cross_cache=block.cross_attention_cache(outputs)`
            to compute the source's keys/values once for a whole decoding.
        rotary: rotary position embeddings in the self-attention.
        kernel_initializer: initializer for the projection kernels.
        output_kernel_initializer: initializer for the kernels that write into the
            residual stream; defaults to `kernel_initializer`.

    Call arguments:
        x: [B, T, D].
        encoder_outputs: [B, S, D], cross-attention only.
        encoder_padding_mask: [B, S], 1/True for real encoder tokens.
        cache: `(keys, values)`, each [B, max_length, num_heads, head_dim] (incremental
            decoding); `x` holds the tokens at positions cache_index..cache_index+T-1.
        cache_index: scalar int tensor, the absolute position of `x[:, 0]`.
        cache_step: optional `CachedMultiHeadAttention.cache_step(...)`, shared by the
            blocks of one decoding step (computed here when None).
        cross_cache: optional `cross_attention_cache(encoder_outputs)`, used instead of
            `encoder_outputs`.

    Returns:
        y [B, T, D], or `(y, new_cache)` when a cache is given.

    Example:

    ```python
    block = TransformerBlock(num_heads=2, intermediate_dim=32)
    x = np.random.rand(1, 5, 8).astype("float32")
    y = block(x)  # [1, 5, 8]

    empty = np.zeros((1, 16, 2, 4), "float32")
    y_prompt, cache = block(x, cache=(empty, empty), cache_index=0)
    y_next, cache = block(x[:, :1], cache=cache, cache_index=5)
    ```
    """

    def __init__(self, num_heads: int, intermediate_dim: int, use_cross_attention=False, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        self.use_cross_attention = use_cross_attention
        if use_cross_attention:
            self.cross_attention_norm = self._layer_norm("cross_attention_norm")
            self.cross_attention = self._attention("cross_attention", cross_attention=True)

    def build(self, x_shape, encoder_outputs_shape=None):
        super().build(x_shape)
        if self.use_cross_attention:
            self.cross_attention_norm.build(x_shape)
            self.cross_attention.build(x_shape, encoder_outputs_shape or x_shape)

    def cross_attention_cache(self, encoder_outputs):
        """The cross-attention keys and values of `encoder_outputs` [B, S, D], for `cross_cache`.

        A decoder computes them once per source, not at every decoding step.
        """
        return self.cross_attention.project_context(encoder_outputs)

    def call(
        self,
        x,
        encoder_outputs=None,
        encoder_padding_mask=None,
        cache=None,
        cache_index=None,
        cache_step=None,
        cross_cache=None,
        training=None,
    ):
        attended = self.self_attention(
            self.self_attention_norm(x),
            causal=True,
            cache=cache,
            cache_index=cache_index,
            cache_step=cache_step,
        )
        if cache is not None:
            attended, cache = attended
        x = x + self.dropout_layer(attended, training=training)
        if self.use_cross_attention:
            attended = self.cross_attention(
                self.cross_attention_norm(x),
                context=encoder_outputs,
                context_cache=cross_cache,
                attention_mask=key_padding_mask(encoder_padding_mask),
            )
            x = x + self.dropout_layer(attended, training=training)
        x = x + self.dropout_layer(self.feedforward(self.feedforward_norm(x)), training=training)
        return x if cache is None else (x, cache)

    def get_config(self):
        config = super().get_config()
        config["use_cross_attention"] = self.use_cross_attention
        return config


@keras.saving.register_keras_serializable(package="zoo")
class EncoderBlock(_PreNormBlock):
    """A bidirectional block: self-attention over the whole sequence, then an MLP.

    Padded keys are masked out, so padding never changes a real position's output.
    Arguments are those of `TransformerBlock`, without the cross-attention and cache, plus
    `norm_first`: True (the default) is pre-LayerNorm, `x + f(norm(x))`; False is the original
    Transformer's and BERT's post-LayerNorm, `norm(x + f(x))`, which published BERT checkpoints
    need.

    Call arguments:
        x: [B, T, D].
        padding_mask: [B, T] bool/int, 1 for real tokens.

    Example:

    ```python
    block = EncoderBlock(num_heads=2, intermediate_dim=32)
    x = np.random.rand(2, 5, 8).astype("float32")
    padding_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    y = block(x, padding_mask=padding_mask)  # [2, 5, 8]
    ```
    """

    def __init__(self, num_heads: int, intermediate_dim: int, norm_first: bool = True, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        self.norm_first = norm_first

    def call(self, x, padding_mask=None, training=None):
        mask = key_padding_mask(padding_mask)
        x = self._residual(x, self.self_attention_norm,
                           lambda y: self.self_attention(y, attention_mask=mask), training)
        return self._residual(x, self.feedforward_norm, self.feedforward, training)

    def _residual(self, x, norm, sublayer, training):
        if self.norm_first:
            return x + self.dropout_layer(sublayer(norm(x)), training=training)
        return norm(x + self.dropout_layer(sublayer(x), training=training))

    def get_config(self):
        config = super().get_config()
        config["norm_first"] = self.norm_first
        return config


def key_padding_mask(padding_mask):
    """[B, S] 1/0 padding mask -> [B, 1, 1, S] bool attention mask (or None)."""
    if padding_mask is None:
        return None
    return ops.cast(padding_mask, "bool")[:, None, None, :]
