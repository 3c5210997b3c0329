"""The model zoo: named presets and the `python -m zoo.<verb>` entry points.

    >>> import zoo
    >>> model = zoo.build("transformer_lm_tiny", vocab_size=65)

The registry (and with it Keras and the model code) is imported on first use, so entry points
that never touch a model, like `python -m zoo.serve`, stay free of it.
"""

import importlib
import os

# Quiets TensorFlow's C++ warnings (its first start-up lines print regardless in TF 2.21).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["PRESETS", "Preset", "build", "get_preset", "list_models"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("zoo.registry"), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
