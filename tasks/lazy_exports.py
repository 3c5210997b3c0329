"""Package attributes imported on first use (PEP 562), so that importing a package for its
light tables (the task names, the dataset lists) does not load TensorFlow with it."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`: attribute `name` is `exports[name]`'s
    attribute of that name, imported when first asked for and kept on the package after.

        __getattr__ = lazy_exports(__name__, {"CausalLM": "tasks.causal_lm.model"})
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
