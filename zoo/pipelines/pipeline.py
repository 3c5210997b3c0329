"""What every pipeline shares: where its model lives (a run or an export) and how it is called.

A pipeline wraps one of two sources. A run directory is rebuilt in this process
(`zoo.runs.load_run`: config.json, tokenizer/, the latest checkpoint); an export's version folder
is loaded with TensorFlow alone and called through its signatures, as a TF Serving client calls
it. Where a task has a serving signature for an operation, a run is called through the same
signature built in this process (`Task.serving_signatures`), so the two sources share the code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from zoo.config import ConfigError


class Pipeline:
    """A trained model with its tokenizer, called with plain strings.

    Attributes:
        path: the run directory or export version folder it was loaded from.
        run: the rebuilt run (`zoo.runs.Run`: model, task, step), or None for an export.
    """

    task_name: ClassVar[str]  # the task of the runs it wraps
    signature: ClassVar[str]  # the export signature that marks the task's exports
    batch_size: ClassVar[int] = 32  # texts per call into the model

    def __init__(self, path: str, *, run: Any = None, signatures: Mapping | None = None):
        if (run is None) == (signatures is None):
            raise TypeError("give exactly one of run and signatures")
        self.path = path
        self.run = run
        self._signatures = signatures
        self.export_path: str | None = None  # where `export` (or `zoo.fit`) last exported it

    @property
    def is_export(self) -> bool:
        return self._signatures is not None

    @property
    def tokenizer(self) -> Any:
        """The run's tokenizer (`encode`, `decode`); None for an export, which holds its own."""
        return self.run.task.tokenizer if self.run is not None else None

    @property
    def model(self) -> Any:
        """The run's Keras model: `compile()` with the task's defaults, then `fit`, `evaluate`
        and `predict` on raw text (`tasks.task_model.TaskModel`); runs only."""
        run = self._run_only("model")
        if getattr(run.model, "keras_loop", False) is None:  # attached here, not in training
            run.model.keras_loop = run.task.keras_loop()
        return run.model

    def __repr__(self) -> str:
        source = "export" if self.is_export else f"run at step {self.run.step}"
        return f"{type(self).__name__}({self.path!r}, {source})"

    @classmethod
    def task_class(cls) -> type:
        """The task this pipeline wraps (its class: limits such as `max_beams`)."""
        import tasks

        return tasks.get_task(cls.task_name)

    # ------------------------------------------------------------------ runs: their records

    @property
    def metrics(self) -> dict:
        """The run's summary.json (final validation metrics, timing), {} before it ends."""
        import json

        path = os.path.join(self._run_only("metrics").model_dir, "summary.json")
        if not os.path.isfile(path):
            return {}
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def evaluate(self, split: str = "validation", max_batches: int | None = None) -> dict:
        """The task's metrics on `split` ("train", "validation", "test"), as `zoo.evaluate`
        computes and records them (eval_<split>.json in the run directory)."""
        from zoo.evaluate import evaluate_and_record

        if split not in ("train", "validation", "test"):
            raise ConfigError(f"split: one of train, validation, test; got {split!r}")
        if max_batches is not None:
            check_int(max_batches, "max_batches", 1)
        return evaluate_and_record(self._run_only("evaluate"), split, max_batches)

    def export(self, export_dir: str = "saved_models", **options: Any) -> str:
        """Exports the run for TF Serving as `zoo.export` does (`zoo.export.export_saved_model`
        options: version, name, sampling, overwrite, limits); returns the version's path."""
        from zoo.export import export_saved_model

        self.export_path = export_saved_model(self._run_only("export").model_dir, export_dir,
                                              **options)
        return self.export_path

    def _run_only(self, what: str) -> Any:
        if self.run is None:
            raise ConfigError(f"{what}: {self.path} is an export; load the run directory")
        return self.run

    # ------------------------------------------------------------------------ for subclasses

    def serving_signatures(self) -> Mapping:
        """The export's signatures, or the run's task's, built here (traced on first call)."""
        if self._signatures is None:
            from tasks.decoding import SamplingConfig

            self._signatures = self.run.task.serving_signatures(self.run.model, SamplingConfig())
        return self._signatures

    def call_signature(self, name: str, **inputs: Any) -> dict[str, np.ndarray]:
        """Signature `name` on `inputs` (numpy or lists), its outputs as numpy; the
        signature's own input checks become a one-line ValueError."""
        import tensorflow as tf

        from zoo.cli import op_error_message

        signature = self.serving_signatures()[name]
        try:
            outputs = signature(**{k: tf.constant(v) for k, v in inputs.items()})
        except tf.errors.InvalidArgumentError as e:
            raise ConfigError(op_error_message(e)) from None
        return {k: v.numpy() for k, v in outputs.items()}


def as_texts(texts: str | Sequence[str], argument: str = "texts") -> tuple[list[str], bool]:
    """(`texts` as a list, whether one string was given); anything else is a TypeError, an
    empty list or a blank text a ValueError, each naming `argument`."""
    single = isinstance(texts, str)
    items = [texts] if single else texts
    if isinstance(items, (bytes, Mapping)) or not isinstance(items, Sequence):
        raise TypeError(f"{argument}: expected a string or a list of strings, "
                        f"got {type(texts).__name__}")
    items = list(items)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{argument}: expected strings, got a {type(item).__name__}")
    if not items:
        raise ConfigError(f"{argument}: give at least one text")
    if any(not item.strip() for item in items):
        raise ConfigError(f"{argument}: every text must be non-empty")
    from zoo.cli import check_utf8

    return check_utf8(items, argument), single


def in_batches(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def check_int(value: Any, argument: str, low: int, high: int | None = None) -> int:
    """`value` as an int in low..high, else a TypeError or ValueError naming `argument`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argument}: expected an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        span = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{argument} must be {span}, got {value}")
    return int(value)


def load_export(path: str, needed: str, kind: str) -> Mapping:
    """The signatures of the SavedModel in `path`, which must have `needed`."""
    from zoo.cli import load_export_signatures

    return load_export_signatures(path, needed, kind, argument="path")


def is_export(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "saved_model.pb"))
