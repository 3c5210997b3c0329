"""The files of a run directory: their names, in one place, and how they are written.

Every file a later command reads back is written whole to a temporary name beside it and renamed
into place, so a kill at any moment leaves the old file or the new one, never half of either.
The trainer, the run log, the n-gram counter and the tasks all write through this module; it
lives in `tasks` because tasks write their own files (the tokenizer, the label set) and import
nothing from `zoo`.

    runs/<run>/
        config.json       the resolved settings: evaluate, export and resume rebuild the run
        tokenizer/        the vocabulary
        labels.json       a classifier's label set
        checkpoints/      weights, optimizer state, step and RNG state
        logs/             TensorBoard events
        metrics.jsonl     one JSON line per evaluation (appended)
        loss.png          training and validation loss against step
        summary.json      final figures (present only once a run has finished)
        eval_<split>.json `zoo.evaluate`'s figures
        predictions.*     what a task's evaluation predicted, in the task's own format
        model.keras       a counted model (the n-gram), saved whole
        imported.json     where an imported checkpoint came from (zoo.import_checkpoint)
"""

from __future__ import annotations

import json
import os
from typing import Any

CONFIG = "config.json"
TOKENIZER = "tokenizer"
LABELS = "labels.json"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
METRICS = "metrics.jsonl"
PLOT = "loss.png"
SUMMARY = "summary.json"
COUNTED_MODEL = "model.keras"
IMPORTED = "imported.json"


def evaluation_file(split: str) -> str:
    return f"eval_{split}.json"


def write_atomically(path: str, data: str | bytes) -> None:
    """Writes `data` to `path` through a temporary file and a rename."""
    temporary = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp")
    mode, encoding = ("wb", None) if isinstance(data, bytes) else ("w", "utf-8")
    with open(temporary, mode, encoding=encoding) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def write_json(path: str, value: Any, **dump_options: Any) -> None:
    """`value` as indented JSON, written atomically."""
    write_atomically(path, json.dumps(value, indent=2, **dump_options) + "\n")


def append_json_line(path: str, value: Any, **dump_options: Any) -> None:
    """One JSON record appended to a JSON-lines file (a kill can cut only the last line, which
    readers skip)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(value, **dump_options) + "\n")


def has_tokenizer(run_dir: str | None) -> bool:
    """Whether `run_dir` holds a saved tokenizer."""
    if not run_dir:
        return False
    path = os.path.join(run_dir, TOKENIZER)
    return os.path.isdir(path) and bool(os.listdir(path))
