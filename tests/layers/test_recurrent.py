import keras
import numpy as np
import pytest

from layers import LSTMBlock

BATCH, LENGTH, FEATURES, UNITS = 2, 6, 5, 8


def inputs(length=LENGTH, seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, length, FEATURES)).astype("float32")


@pytest.mark.parametrize("cell, state_count", [("lstm", 2), ("gru", 1)])
def test_shapes_dtypes_and_states(policy, cell, state_count):
    block = LSTMBlock(UNITS, num_layers=3, cell=cell)
    y, states = block(inputs())
    assert y.shape == (BATCH, LENGTH, UNITS)
    assert keras.backend.standardize_dtype(y.dtype) == policy.compute_dtype
    assert len(states) == 3
    for layer_states in states:
        assert len(layer_states) == state_count
        assert all(s.shape == (BATCH, UNITS) for s in layer_states)


def test_outputs_are_causal():
    block = LSTMBlock(UNITS)
    x = inputs()
    changed = x.copy()
    changed[:, 3:] = inputs(seed=1)[:, 3:]
    np.testing.assert_allclose(block(changed)[0][:, :3], block(x)[0][:, :3], atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_carried_state_matches_the_full_sequence(cell):
    block = LSTMBlock(UNITS, cell=cell)
    x = inputs()
    full, full_states = block(x)
    y, states = block(x[:, :2])  # a chunk, then single steps with the state carried over
    outputs = [y]
    for i in range(2, LENGTH):
        y, states = block(x[:, i : i + 1], initial_state=states)
        outputs.append(y)
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full, atol=1e-5)
    for carried, whole in zip(states, full_states, strict=True):
        np.testing.assert_allclose(carried[0], whole[0], atol=1e-5)


def test_dropout_only_in_training():
    block = LSTMBlock(UNITS, dropout=0.5)
    x = inputs()
    np.testing.assert_array_equal(block(x)[0], block(x, training=False)[0])
    assert not np.allclose(block(x, training=True)[0], block(x)[0])


def test_unknown_cell_is_rejected():
    with pytest.raises(ValueError, match="cell"):
        LSTMBlock(UNITS, cell="rnn")


def test_save_and_load_round_trip(save_and_load):
    x = keras.Input(shape=(LENGTH, FEATURES))
    y, states = LSTMBlock(UNITS, dropout=0.1, kernel_initializer="he_uniform")(x)
    model = keras.Model(x, [y, states[-1][1]])
    restored = save_and_load(model)
    for a, b in zip(restored(inputs()), model(inputs()), strict=True):
        np.testing.assert_array_equal(a, b)


def test_layers_start_different():
    """Each layer gets its own initializer instance, so the stacked layers differ."""
    block = LSTMBlock(UNITS, num_layers=2, kernel_initializer=keras.initializers.RandomNormal())
    block.build((BATCH, LENGTH, UNITS))
    first, second = (layer.cell.kernel for layer in block.rnn_layers)
    assert not np.allclose(first, second)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradients_reach_all_weights(assert_gradients_reach_all_weights, cell):
    block = LSTMBlock(UNITS, cell=cell)
    x = inputs()
    assert_gradients_reach_all_weights(block, lambda: block(x)[0])
