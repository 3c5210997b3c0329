import keras
import numpy as np
import pytest

from layers import CachedMultiHeadAttention

BATCH, LENGTH, DIM, HEADS = 2, 6, 8, 2


def inputs(length=LENGTH, seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, length, DIM)).astype("float32")


def empty_cache(max_length=10, dtype="float32"):
    empty = np.zeros((BATCH, max_length, HEADS, DIM // HEADS), dtype)
    return empty, empty


def test_self_attention_shapes_and_dtypes(policy):
    attention = CachedMultiHeadAttention(HEADS)
    y = attention(inputs(), causal=True)
    assert y.shape == (BATCH, LENGTH, DIM)
    assert keras.backend.standardize_dtype(y.dtype) == policy.compute_dtype

    y, cache = attention(inputs(1), cache=empty_cache(dtype=policy.compute_dtype), cache_index=0)
    assert y.shape == (BATCH, 1, DIM)
    for tensor, empty in zip(cache, empty_cache(), strict=True):
        assert tensor.shape == empty.shape
        assert keras.backend.standardize_dtype(tensor.dtype) == policy.compute_dtype


def test_cross_attention_shapes():
    attention = CachedMultiHeadAttention(HEADS, cross_attention=True)
    context = np.random.rand(BATCH, 3, 4).astype("float32")  # a narrower encoder is fine
    attention.build(inputs().shape, context.shape)
    assert attention(inputs(), context=context).shape == (BATCH, LENGTH, DIM)


def test_causal_attention_ignores_the_future():
    attention = CachedMultiHeadAttention(HEADS)
    x = inputs()
    changed = x.copy()
    changed[:, 4:] = inputs(seed=1)[:, 4:]
    np.testing.assert_allclose(
        attention(changed, causal=True)[:, :4], attention(x, causal=True)[:, :4], atol=1e-6
    )
    assert not np.allclose(attention(changed)[:, :4], attention(x)[:, :4])  # not causal


@pytest.mark.parametrize("rotary", [False, True])
def test_cache_reproduces_the_full_pass(rotary):
    attention = CachedMultiHeadAttention(HEADS, rotary=rotary)
    x = inputs()
    full = attention(x, causal=True)
    y, cache = attention(x[:, :3], cache=empty_cache(), cache_index=0)
    steps = [y]
    for i in range(3, LENGTH):
        y, cache = attention(x[:, i : i + 1], cache=cache, cache_index=np.int32(i))
        steps.append(y)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_cache_writes_several_positions_at_a_dynamic_index_in_a_graph():
    """Chunks of 2 and 3 tokens at a tensor index, as a graph runs them: same as the full pass,
    and each chunk lands at exactly its positions (the rest of the cache is untouched)."""
    import tensorflow as tf

    attention = CachedMultiHeadAttention(HEADS, rotary=True)
    x = inputs(7)
    full = attention(x, causal=True)
    call = tf.function(lambda x, cache, index: attention(x, cache=cache, cache_index=index))
    keys, values = empty_cache()
    keys = keys + 5.0  # stale entries: must stay where nothing is written, and stay unseen
    cache, steps = (keys, values), []
    for start, stop in [(0, 2), (2, 5), (5, 7)]:
        y, cache = call(x[:, start:stop], cache, tf.constant(start))
        steps.append(y)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    np.testing.assert_array_equal(cache[0][:, 7:], keys[:, 7:])
    assert not np.any(np.asarray(cache[0][:, :7]) == 5.0)


def test_cross_attention_respects_the_padding_mask():
    attention = CachedMultiHeadAttention(HEADS, cross_attention=True)
    x, context = inputs(), inputs(4, seed=1)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)[:, None, None, :]
    changed = context.copy()
    changed[1, 2:] += 1.0
    np.testing.assert_allclose(
        attention(x, context=changed, attention_mask=mask),
        attention(x, context=context, attention_mask=mask),
        atol=1e-6,
    )
    assert not np.allclose(attention(x, context=changed), attention(x, context=context))


def test_rotary_cross_attention_is_rejected():
    with pytest.raises(ValueError, match="rotary"):
        CachedMultiHeadAttention(HEADS, cross_attention=True, rotary=True)


def test_save_and_load_round_trip(save_and_load):
    x = keras.Input(shape=(LENGTH, DIM))
    context = keras.Input(shape=(4, DIM))
    y = CachedMultiHeadAttention(HEADS, rotary=True)(x, causal=True)
    y = CachedMultiHeadAttention(HEADS, cross_attention=True)(y, context=context)
    model = keras.Model([x, context], y)
    data = [inputs(), inputs(4, seed=1)]
    np.testing.assert_array_equal(save_and_load(model)(data), model(data))


def test_gradients_reach_all_weights(assert_gradients_reach_all_weights):
    attention = CachedMultiHeadAttention(HEADS, rotary=True)
    x = inputs()
    assert_gradients_reach_all_weights(attention, lambda: attention(x, causal=True))
