"""The model zoo: named presets and the `python -m zoo.<verb>` entry points.

    >>> import zoo
    >>> model = zoo.build("transformer_lm_tiny", vocab_size=65)

The registry (and with it Keras and the model code) is imported on first use, so entry points
that never touch a model, like `python -m zoo.serve`, stay free of it.
"""

import importlib
import os
import sys

# Quiets TensorFlow's C++ warnings; its very first start-up lines ignore this (see zoo.startup).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if sys.argv[:1] == ["-m"]:
    # `python -m zoo.<verb>`: while the module is being located, argv[0] is "-m" (see the docs
    # of `python -m`), so this runs first for every entry point and never for `import zoo`.
    from zoo.startup import import_tensorflow_quietly

    import_tensorflow_quietly()

__all__ = ["PRESETS", "Preset", "build", "get_preset", "list_models"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("zoo.registry"), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
