"""Initializers kept as configs, so that every weight built from one draws values of its own."""

import keras


def per_weight(initializer) -> str | dict:
    """`initializer` (a name, config or instance) as its serialized config.

    A Keras 3 initializer instance without a seed draws the same values on every call, so one
    instance shared by several sub-layers would give them identical weights. Layers keep the
    config instead, and each sub-layer deserializes an instance of its own.
    """
    return keras.initializers.serialize(initializer)
