"""A read checkpoint written as an ordinary zoo run directory."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from tasks import run_files
from zoo import checkpoints
from zoo.config import ConfigError
from zoo.convert import bert, gpt2
from zoo.convert.source import Source, SourceError

FAMILIES = {"gpt2": gpt2, "bert": bert}


def write_run(source: Source, model_dir: str | os.PathLike, format: str = "") -> Path:
    """Writes `source` as a run in `model_dir` (config.json, tokenizer/, checkpoints/ at step 0,
    imported.json) that zoo.generate, evaluate, export and `train --init_from` read as any run.

    The folder is built beside its target and renamed into place, so an interrupted import
    leaves no half-written run. Returns the folder.
    """
    from zoo.runs import RunSpec
    from zoo.training import resolve_config

    target = Path(model_dir)
    if target.exists():
        raise ConfigError(f"--model_dir: {target} exists; an import writes a new run")
    family = FAMILIES[source.family]
    preset, settings = family.zoo_model(source.config)
    run_task = family.run_task(source)
    config = dataclasses.replace(
        resolve_config({"model": preset, "task": run_task.name,
                        "tokenizer": source.tokenizer.kind}),
        model_overrides=settings)
    spec = RunSpec.of(config)
    building = target.with_name(f".{target.name}.importing")
    shutil.rmtree(building, ignore_errors=True)
    (building / run_files.TOKENIZER).mkdir(parents=True)
    try:
        source.tokenizer.save(building / run_files.TOKENIZER)
        if run_task.labels is not None:  # the classifier's classes, as a trained run has them
            run_files.write_json(str(building / run_files.LABELS), {
                "labels": list(run_task.labels), "split": f"imported from {source.origin}"})
        task = spec.make_task(run_dir=str(building))
        model = spec.build_model(task, dtype="float32")
        fresh = _assign(model, family.zoo_weights(source, spec.backbone_config,
                                                  task.tokenizer.vocab_size), run_task.fresh)
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
        checkpoint = tf.train.Checkpoint(weights=checkpoints.model_variables(model), step=step)
        tf.train.CheckpointManager(checkpoint, str(building / checkpoints.DIRECTORY),
                                   max_to_keep=1).save(checkpoint_number=0)
        run_files.write_atomically(str(building / run_files.CONFIG), config.to_json())
        run_files.write_json(str(building / run_files.IMPORTED), {
            "source": source.origin, "format": format, "family": source.family,
            "preset": preset, "task": run_task.name, "parameters": int(model.count_params()),
            "started_new": fresh})
        os.replace(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return target


def _assign(model, weights: dict[str, np.ndarray], may_start_new: dict[str, str]) -> list[str]:
    """Sets every weight of `model` from `weights` (by model_variables path) and returns the
    names of the parts left as they started: only those under a prefix of `may_start_new`
    may be. Any other weight without a value, or one with no place, means the two models
    differ."""
    variables = {p: v for p, v in checkpoints.model_variables(model).items()
                 if not p.startswith("rng_state")}
    missing = sorted(set(variables) - set(weights))
    extra = sorted(set(weights) - set(variables))
    fresh = sorted({name for prefix, name in may_start_new.items()
                    if any(p.startswith(prefix) for p in missing)})
    missing = [p for p in missing if not any(p.startswith(x) for x in may_start_new)]
    if missing or extra:
        raise SourceError(f"the checkpoint does not fit the zoo model: missing {missing[:3]}, "
                          f"unplaced {extra[:3]}")
    for path, value in weights.items():
        variable = variables[path]
        if tuple(value.shape) != tuple(variable.shape):
            raise SourceError(f"{path}: checkpoint shape {value.shape}, model {variable.shape}")
        variable.assign(value.astype(variable.dtype))
    return fresh
