"""The zoo from Python: a run or an export, loaded with its tokenizer, called with strings.

    >>> import zoo
    >>> lm = zoo.load("runs/transformer_lm_tiny-tiny_shakespeare-20261201-120000")
    >>> lm.generate("ROMEO:", max_new_tokens=40)
    'ROMEO:\\nWhat say you ...'
    >>> zoo.load("saved_models/bert_tiny/1").classify(["a gorgeous, witty film"])
    [Classification(label='positive', probabilities={'negative': 0.08, 'positive': 0.92})]

`load` takes a run directory (its latest checkpoint) or an export's version folder and returns
the task's pipeline. The `python -m zoo.<verb>` commands are thin wrappers of these, so a
pipeline and its command give the same output for the same settings.
"""

from __future__ import annotations

import os

from zoo.config import ConfigError
from zoo.pipelines.language_model import LanguageModel
from zoo.pipelines.mask_filler import MaskFiller
from zoo.pipelines.pipeline import Pipeline, is_export, load_export
from zoo.pipelines.question_answerer import Answer, QuestionAnswerer
from zoo.pipelines.text_classifier import Classification, TextClassifier
from zoo.pipelines.text_to_text import Summarizer, Translator

# One pipeline a task, in the order an export's signatures are checked for its task.
PIPELINES: tuple[type[Pipeline], ...] = (
    LanguageModel, TextClassifier, MaskFiller, Translator, Summarizer, QuestionAnswerer)


def load(path: str | os.PathLike, task: str | None = None) -> Pipeline:
    """The run directory or export version folder at `path` as its task's pipeline.

    Args:
        path: a run directory written by `zoo.train` (its latest checkpoint is loaded), or
            an export's version folder (`saved_models/<name>/<version>`), loaded with
            TensorFlow alone as TF Serving would.
        task: the task the caller expects (e.g. "translation"); another is a ValueError.

    Returns:
        `LanguageModel`, `TextClassifier`, `MaskFiller`, `Translator`, `Summarizer` or
        `QuestionAnswerer`.

    Raises:
        ValueError: `path` is neither a run nor an export, is damaged, or is another task's.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(f"path: no such run directory or export: {path}")
    if is_export(path):
        pipeline = _load_export(path, task)
    else:
        from zoo.runs import load_run

        run = load_run(path)
        pipeline = _pipeline_of(run.task.name)(path, run=run)
    if task is not None and pipeline.task_name != task:
        raise ConfigError(f"{path} holds a {pipeline.task_name} model, not a {task} one")
    return pipeline


def _load_export(path: str, task: str | None) -> Pipeline:
    wanted = _pipeline_of(task) if task else None
    signatures = load_export(path, "serving_default", "zoo")
    for cls in PIPELINES:
        if cls.signature in signatures:
            if wanted is not None and cls is not wanted:
                raise ConfigError(f"{path} has no `{wanted.signature}` signature: not a "
                                  f"{task} export")
            return cls(path, signatures=signatures)
    raise ConfigError(f"{path}: not a zoo export (none of the signatures "
                      f"{', '.join(cls.signature for cls in PIPELINES)})")


def _pipeline_of(task: str) -> type[Pipeline]:
    for cls in PIPELINES:
        if cls.task_name == task:
            return cls
    known = ", ".join(cls.task_name for cls in PIPELINES)
    raise ConfigError(f"task: no pipeline for {task!r}; one of: {known}")


__all__ = [
    "PIPELINES",
    "Answer",
    "Classification",
    "LanguageModel",
    "MaskFiller",
    "Pipeline",
    "QuestionAnswerer",
    "Summarizer",
    "TextClassifier",
    "Translator",
    "load",
]
