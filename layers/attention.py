"""Multi-head attention with an optional key/value cache for incremental decoding."""

import keras
import keras_hub
from keras import ops

from layers.initializers import per_weight


@keras.saving.register_keras_serializable(package="zoo")
class CachedMultiHeadAttention(keras.layers.Layer):
    """Multi-head attention over `keras.ops.dot_product_attention`.

    The attention itself is left to the backend kernel (flash/cuDNN where it exists),
    so this layer is only projections and bookkeeping. Self-attention projects q, k
    and v with one fused matmul; cross-attention (`cross_attention=True`) projects q
    from `x` and k, v (fused) from `context`. The output width equals `x`'s width and
    `head_dim = width // num_heads`.

    Cross-attention over a fixed source (a seq2seq decoder): `project_context(context)`
    computes the source's keys and values once, and `call(x, context_cache=...)` reuses
    them at every decoding step instead of projecting the source again.

    Incremental decoding: pass `cache`, a `(keys, values)` pair of [B, max_length,
    num_heads, head_dim] tensors, and `cache_index`, the absolute position of `x`'s first
    token. The new keys/values are written at `cache_index` and a query at absolute
    position p sees cache positions <= p. The call then returns `(outputs, new_cache)`.
    The write is a scatter, not `slice_update`: TensorFlow lowers that to an XLA-only op
    (`XlaDynamicUpdateSlice`), and TF Serving runs graphs without XLA. A model with
    several layers computes `cache_step(...)` once per step and passes it to each.

    `dot_product_attention` has no dropout on the attention probabilities, so there is
    none here; regularize with dropout on the block's residual branches instead.

    Args:
        num_heads: number of attention heads.
        cross_attention: attend from `x` to a separate `context` sequence.
        rotary: rotate q and k by their absolute positions (RoFormer). Self-attention
            only.
        rotary_max_wavelength: the RoPE base.
        use_bias: whether the projections have biases.
        kernel_initializer: initializer for the q/k/v projection kernels.
        output_kernel_initializer: initializer for the output projection kernel
            (GPT-2 scales it down with depth); defaults to `kernel_initializer`.
        bias_initializer: initializer for all biases.

    Example:

    ```python
    attention = CachedMultiHeadAttention(num_heads=2)
    x = np.random.rand(1, 5, 8).astype("float32")
    y = attention(x, causal=True)  # [1, 5, 8]

    empty = np.zeros((1, 16, 2, 4), "float32")  # room for 16 positions
    y, cache = attention(x, cache=(empty, empty), cache_index=0)  # prefill positions 0..4
    y, cache = attention(x[:, :1], cache=cache, cache_index=5)  # one more token
    ```
    """

    def __init__(
        self,
        num_heads: int,
        cross_attention: bool = False,
        rotary: bool = False,
        rotary_max_wavelength: int = 10000,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer=None,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if rotary and cross_attention:
            raise ValueError("rotary position embeddings only apply to self-attention")
        self.num_heads = num_heads
        self.cross_attention = cross_attention
        self.rotary = rotary
        self.rotary_max_wavelength = rotary_max_wavelength
        self.use_bias = use_bias
        self.kernel_initializer = per_weight(kernel_initializer)
        self.output_kernel_initializer = per_weight(output_kernel_initializer or kernel_initializer)
        self.bias_initializer = per_weight(bias_initializer)

    def build(self, x_shape, context_shape=None):
        width = x_shape[-1]
        if width % self.num_heads:
            raise ValueError(f"width {width} is not divisible by {self.num_heads} heads")
        self.head_dim = width // self.num_heads
        heads = (self.num_heads, self.head_dim)
        # The q/k/v axis (p) comes before time, so a k/v pair drops straight into the
        # [B, 2, S, N, H] cache.
        if self.cross_attention:
            self.query_dense = self._projection(
                "query", "btd,dnh->btnh", (None, *heads), "nh", x_shape
            )
            self.key_value_dense = self._projection(
                "key_value", "bsd,dpnh->bpsnh", (2, None, *heads), "pnh", context_shape or x_shape
            )
        else:
            self.qkv_dense = self._projection(
                "qkv", "btd,dpnh->bptnh", (3, None, *heads), "pnh", x_shape
            )
        self.output_dense = self._projection(
            "output",
            "btnh,nhd->btd",
            (None, width),
            "d",
            (*x_shape[:-1], *heads),
            kernel_initializer=self.output_kernel_initializer,
        )
        if self.rotary:
            self.rotary_embedding = keras_hub.layers.RotaryEmbedding(
                max_wavelength=self.rotary_max_wavelength, dtype=self.dtype_policy
            )

    def _projection(
        self, name, equation, output_shape, bias_axes, input_shape, kernel_initializer=None
    ):
        """A built `EinsumDense` with this layer's initializers and dtype policy."""
        projection = keras.layers.EinsumDense(
            equation,
            output_shape=output_shape,
            bias_axes=bias_axes if self.use_bias else None,
            kernel_initializer=kernel_initializer or self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name=name,
        )
        projection.build(input_shape)
        return projection

    def project_context(self, context):
        """Cross-attention: the source's `(keys, values)`, each [B, S, num_heads, head_dim]."""
        if not self.cross_attention:
            raise ValueError("project_context is for cross-attention layers")
        keys, values = ops.unstack(self.key_value_dense(context), 2, axis=1)
        return keys, values

    def call(
        self,
        x,
        context=None,
        attention_mask=None,
        causal=False,
        cache=None,
        cache_index=None,
        cache_step=None,
        context_cache=None,
    ):
        """Attends from `x` [B, T, D] to itself (or to `context` [B, S, D']).

        Args:
            x: the queries' inputs.
            context: the keys' and values' inputs, cross-attention only.
            attention_mask: optional bool, broadcastable to [B, num_heads, T, S]; True
                attends.
            causal: position t attends only to positions <= t (ignored with a cache,
                which is always causal).
            cache: optional `(keys, values)`, each [B, max_length, num_heads, head_dim].
            cache_index: scalar int, the absolute position of `x[:, 0]`.
            cache_step: optional `cache_step(cache, T, cache_index)`, computed once and
                shared by every layer of a decoding step; derived here when None.
            context_cache: cross-attention only: `project_context(context)`, computed once
                per source; `context` is then not needed.

        Returns:
            [B, T, D], or `(outputs, new_cache)` when a cache is given.
        """
        if self.cross_attention:
            if context is None and context_cache is None:
                raise ValueError("cross-attention needs a `context` or its `context_cache`")
            if cache is not None:
                raise ValueError("the key/value cache is for self-attention only")
            query = self.query_dense(x)
            key, value = context_cache or self.project_context(context)
        else:
            query, key, value = ops.unstack(self.qkv_dense(x), 3, axis=1)

        if self.rotary:
            start_index = 0 if cache is None else ops.cast(cache_index, "int32")
            query = self.rotary_embedding(query, start_index=start_index)
            key = self.rotary_embedding(key, start_index=start_index)

        if cache is None:
            # The training hot path: no cache, and the causal mask is left to the kernel.
            outputs = ops.dot_product_attention(
                query, key, value, mask=attention_mask, is_causal=causal
            )
            return self.output_dense(outputs)

        if cache_step is None:
            cache_step = self.cache_step(cache, ops.shape(x)[1], cache_index)
        rows, bias = cache_step
        keys, values = cache
        # [B, T, N, H] -> [B*T, N, H]: one update per (row, position) pair of `rows`.
        heads = (-1, self.num_heads, self.head_dim)
        keys = ops.scatter_update(keys, rows, ops.reshape(key, heads))
        values = ops.scatter_update(values, rows, ops.reshape(value, heads))
        if attention_mask is not None:
            bias = ops.where(attention_mask, bias, _masked_logit(bias.dtype))
        # A Python scale and an additive bias keep the kernel to a handful of ops.
        outputs = ops.dot_product_attention(
            query, keys, values, bias=bias, scale=self.head_dim**-0.5
        )
        return self.output_dense(outputs), (keys, values)

    @staticmethod
    def cache_step(cache, query_length, cache_index):
        """Where a cached call writes, and what its queries see; the same for every layer.

        Args:
            cache: a layer's `(keys, values)` (only their shapes and dtype are read).
            query_length: T, the number of new positions.
            cache_index: the absolute position of the first of them.

        Returns:
            `(rows, bias)`: int32 [B*T, 2] (batch row, cache position) pairs for
            `scatter_update`, and the additive attention bias [1, 1, T, max_length]
            (0 where a query at position p sees a cache position <= p, else very negative).
        """
        keys = cache[0]
        batch, length = ops.shape(keys)[0], ops.shape(keys)[1]
        positions = ops.cast(cache_index, "int32") + ops.arange(query_length, dtype="int32")
        rows = ops.stack(
            [
                ops.repeat(ops.arange(batch, dtype="int32"), query_length),
                ops.tile(positions, [batch]),
            ],
            axis=1,
        )
        visible = ops.arange(length, dtype="int32")[None, :] <= positions[:, None]
        bias = ops.where(visible, ops.zeros((), keys.dtype), _masked_logit(keys.dtype))
        return rows, bias[None, None, :, :]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "cross_attention": self.cross_attention,
                "rotary": self.rotary,
                "rotary_max_wavelength": self.rotary_max_wavelength,
                "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "output_kernel_initializer": self.output_kernel_initializer,
                "bias_initializer": self.bias_initializer,
            }
        )
        return config


def _masked_logit(dtype):
    """A finite logit bias that no softmax survives (as keras' own masking uses)."""
    dtype = keras.backend.standardize_dtype(dtype)
    return ops.convert_to_tensor(-0.7 * (65500.0 if dtype == "float16" else 3.38953e38), dtype)
