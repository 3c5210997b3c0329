"""The model zoo: named presets and the `python -m zoo.<verb>` entry points.

    >>> import zoo
    >>> lm = zoo.fit(model="transformer_lm_tiny", train_steps=500)   # as `python -m zoo.train`
    >>> lm = zoo.load("runs/<run>")              # a trained run or an export, see zoo.pipelines
    >>> lm.generate("ROMEO:", max_new_tokens=40)
    >>> model = zoo.build("transformer_lm_tiny", vocab_size=65)   # an untrained Keras model

The registry (and with it Keras and the model code) is imported on first use, so entry points
that never touch a model, like `python -m zoo.serve`, stay free of it.
"""

import importlib
import os
import sys

import zoo.process_clock  # noqa: F401  (starts the clock before anything heavy loads)

# Quiets TensorFlow's C++ warnings; its very first start-up lines ignore this (see zoo.startup).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if sys.argv[:1] == ["-m"]:
    # `python -m zoo.<verb>`: while the module is being located, argv[0] is "-m" (see the docs
    # of `python -m`), so this runs first for every entry point and never for `import zoo`.
    # TensorFlow itself loads once the verb has checked its flags (`zoo.cli.start_tensorflow`).
    from zoo.startup import install_stderr_filter

    install_stderr_filter()

# The public surface, each name from the module that defines it (imported on first use).
_PUBLIC = {
    "PRESETS": "zoo.registry",
    "Preset": "zoo.registry",
    "build": "zoo.builders",
    "get_preset": "zoo.registry",
    "list_models": "zoo.registry",
    "RunConfig": "zoo.config",
    "fit": "zoo.training",
    "load": "zoo.pipelines",
    "Pipeline": "zoo.pipelines",
    "LanguageModel": "zoo.pipelines",
    "TextClassifier": "zoo.pipelines",
    "Classification": "zoo.pipelines",
    "MaskFiller": "zoo.pipelines",
    "Translator": "zoo.pipelines",
    "Summarizer": "zoo.pipelines",
    "QuestionAnswerer": "zoo.pipelines",
    "Answer": "zoo.pipelines",
}
__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
