"""The MLP activations a backbone can name in its config, as plain strings."""

import keras


@keras.saving.register_keras_serializable(package="zoo")
def gelu_tanh(x):
    """GELU by its tanh approximation: GPT-2's (Hugging Face's "gelu_new")."""
    return keras.activations.gelu(x, approximate=True)


# "gelu" is the exact (erf) GELU: BERT's, and the zoo's own presets'.
ACTIVATIONS = {"gelu": keras.activations.gelu, "gelu_tanh": gelu_tanh,
               "relu": keras.activations.relu}


def get_activation(name: str):
    """The activation called `name` in a backbone's config (see ACTIVATIONS)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]
