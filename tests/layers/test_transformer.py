import importlib.util
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from layers import EncoderBlock, TransformerBlock

BATCH, LENGTH, DIM, HEADS, MLP = 2, 6, 8, 2, 16
PADDING = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])


def inputs(length=LENGTH, seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, length, DIM)).astype("float32")


def empty_cache(max_length=10):
    empty = np.zeros((BATCH, max_length, HEADS, DIM // HEADS), "float32")
    return empty, empty


def test_shapes_and_dtypes(policy):
    for block in (TransformerBlock(HEADS, MLP), EncoderBlock(HEADS, MLP)):
        y = block(inputs())
        assert y.shape == (BATCH, LENGTH, DIM)
        assert keras.backend.standardize_dtype(y.dtype) == policy.compute_dtype

    block = TransformerBlock(HEADS, MLP, use_cross_attention=True)
    y = block(inputs(), encoder_outputs=inputs(4), encoder_padding_mask=PADDING[:, :4])
    assert y.shape == (BATCH, LENGTH, DIM)
    assert keras.backend.standardize_dtype(y.dtype) == policy.compute_dtype


def test_decoder_block_is_causal():
    block = TransformerBlock(HEADS, MLP)
    x = inputs()
    changed = x.copy()
    changed[:, 3:] = inputs(seed=1)[:, 3:]
    np.testing.assert_allclose(block(changed)[:, :3], block(x)[:, :3], atol=1e-6)
    assert not np.allclose(block(changed)[:, 3:], block(x)[:, 3:])


@pytest.mark.parametrize("rotary", [False, True])
def test_cached_decoding_reproduces_the_full_pass(rotary):
    block = TransformerBlock(HEADS, MLP, rotary=rotary)
    x = inputs()
    full = block(x)
    y, cache = block(x[:, :4], cache=empty_cache(), cache_index=np.int32(0))  # prefill
    steps = [y]
    for i in range(4, LENGTH):
        y, cache = block(x[:, i : i + 1], cache=cache, cache_index=np.int32(i))
        steps.append(y)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_encoder_ignores_padded_positions():
    block = EncoderBlock(HEADS, MLP)
    x = inputs()
    changed = x.copy()
    changed[1, 4:] = 10 * inputs(seed=3)[1, 4:]
    real = PADDING.astype(bool)
    y, y_changed = block(x, padding_mask=PADDING), block(changed, padding_mask=PADDING)
    np.testing.assert_allclose(np.asarray(y_changed)[real], np.asarray(y)[real], atol=1e-5)
    # ...and it is bidirectional: an early position sees a later real token.
    changed[0, 5] = inputs(seed=1)[0, 5]
    assert not np.allclose(block(changed, padding_mask=PADDING)[0, 0], y[0, 0])


def test_cross_attention_reads_the_encoder_but_not_its_padding():
    block = TransformerBlock(HEADS, MLP, use_cross_attention=True)
    x, encoded = inputs(), inputs(seed=1)
    y = block(x, encoder_outputs=encoded, encoder_padding_mask=PADDING)

    padded_changed = encoded.copy()
    padded_changed[1, 4:] = 10 * inputs(seed=3)[1, 4:]
    y_padded = block(x, encoder_outputs=padded_changed, encoder_padding_mask=PADDING)
    np.testing.assert_allclose(y_padded, y, atol=1e-5)

    y_real = block(x, encoder_outputs=inputs(seed=2), encoder_padding_mask=PADDING)
    assert not np.allclose(y_real, y)


def test_cross_attention_keys_and_values_computed_once_give_the_same_decoding():
    block = TransformerBlock(HEADS, MLP, use_cross_attention=True)
    x, encoded = inputs(), inputs(4, seed=1)
    mask = PADDING[:, :4]
    full = block(x, encoder_outputs=encoded, encoder_padding_mask=mask)
    cross = block.cross_attention_cache(encoded)  # once per source
    assert [tuple(t.shape) for t in cross] == [(BATCH, 4, HEADS, DIM // HEADS)] * 2
    cache, steps = empty_cache(), []
    for i in range(LENGTH):  # no step is given the encoder outputs themselves
        y, cache = block(
            x[:, i : i + 1], encoder_padding_mask=mask, cross_cache=cross, cache=cache,
            cache_index=np.int32(i),
        )
        steps.append(y)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_save_and_load_round_trip(save_and_load):
    x = keras.Input(shape=(LENGTH, DIM))
    padding = keras.Input(shape=(LENGTH,), dtype="int32")
    encoded = EncoderBlock(HEADS, MLP, dropout=0.1, rotary=True)(x, padding_mask=padding)
    y = TransformerBlock(HEADS, MLP, dropout=0.1, use_cross_attention=True)(
        x, encoder_outputs=encoded, encoder_padding_mask=padding
    )
    model = keras.Model([x, padding], y)
    data = [inputs(), PADDING]
    restored = save_and_load(model)
    np.testing.assert_array_equal(restored(data), model(data))
    assert restored.layers[-1].get_config() == model.layers[-1].get_config()


def test_gradients_reach_all_weights(assert_gradients_reach_all_weights):
    block = TransformerBlock(HEADS, MLP, use_cross_attention=True)
    x, encoded = inputs(), inputs(seed=1)
    assert_gradients_reach_all_weights(
        block, lambda: block(x, encoder_outputs=encoded, encoder_padding_mask=PADDING)
    )
    encoder = EncoderBlock(HEADS, MLP)
    assert_gradients_reach_all_weights(encoder, lambda: encoder(x, padding_mask=PADDING))


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_runs_on_the_jax_backend():
    script = textwrap.dedent(
        """
        import keras, numpy as np
        from layers import TransformerBlock
        assert keras.backend.backend() == "jax"
        block = TransformerBlock(2, 16, rotary=True)
        x = np.random.rand(2, 5, 8).astype("float32")
        full = block(x)
        empty = np.zeros((2, 8, 2, 4), "float32")
        y, cache = block(x[:, :3], cache=(empty, empty), cache_index=0)
        y_next, cache = block(x[:, 3:], cache=cache, cache_index=3)
        np.testing.assert_allclose(np.concatenate([y, y_next], 1), full, atol=1e-5)
        """
    )
    root = pathlib.Path(__file__).resolve().parents[2]
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
