"""The model zoo: named presets and the `python -m zoo.<verb>` entry points."""

import os

# Quiets TensorFlow's C++ warnings (its first start-up lines print regardless in TF 2.21).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo.registry import PRESETS, Preset, build, get_preset, list_models  # noqa: E402

__all__ = ["PRESETS", "Preset", "build", "get_preset", "list_models"]
