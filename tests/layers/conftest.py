"""Fixtures shared by the layer tests: dtype policies, a .keras round trip, a gradient check."""

import keras
import numpy as np
import pytest
import tensorflow as tf


@pytest.fixture(params=["float32", "mixed_float16"])
def policy(request):
    """Runs the test under each global dtype policy, then restores the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield keras.config.dtype_policy()
    keras.config.set_dtype_policy(previous)


@pytest.fixture
def save_and_load(tmp_path):
    """Saves a model to .keras and loads it back (safe_mode on, the default)."""

    def round_trip(model):
        path = tmp_path / "model.keras"
        model.save(path)
        return keras.saving.load_model(path)

    return round_trip


@pytest.fixture
def assert_gradients_reach_all_weights():
    """Checks every trainable weight gets a gradient that is not None and not all zero."""

    def check(layer, forward):
        with tf.GradientTape() as tape:
            outputs = tf.nest.flatten(forward())
            # A random projection, so no gradient cancels out by symmetry.
            loss = sum(
                tf.reduce_sum(
                    tf.cast(y, "float32") * np.random.normal(size=y.shape).astype("float32")
                )
                for y in outputs
            )
        weights = layer.trainable_weights
        assert weights
        for weight, gradient in zip(weights, tape.gradient(loss, weights), strict=True):
            assert gradient is not None, weight.path
            assert np.any(np.asarray(gradient) != 0), weight.path

    return check
