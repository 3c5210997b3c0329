"""`zoo.fit`: the run `python -m zoo.train` makes, from Python, and how its settings resolve.

    >>> import zoo
    >>> lm = zoo.fit(model="transformer_lm_tiny", train_steps=500, model_dir="runs/demo")
    >>> lm.metrics["validation"]["loss"], lm.generate("ROMEO:", max_new_tokens=40)

Settings resolve as in the command: RunConfig defaults < the preset's recipe (the task's, when
the preset is trained for another task) < a config file < the settings given < `options`
(backbone arguments and task settings, `--set` on the command line).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from zoo.config import (
    ConfigError,
    RunConfig,
    load_config_file,
    load_run_config,
    parse_overrides,
    replace,
)


def resolve_spec(settings: Mapping[str, Any], options: Mapping[str, Any] | list[str] = (),
                 config_file: str | None = None):
    """The run's `RunSpec`: `settings` are RunConfig fields given explicitly (flags), `options`
    backbone arguments and task settings ({"num_layers": 2} or ["num_layers=2"]).

    Raises:
        ConfigError (a ValueError): an unknown name or a bad value, naming it.
    """
    from zoo.runs import RunSpec

    return RunSpec.of(with_options(resolve_config(settings, config_file), options))


def resolve_config(settings: Mapping[str, Any], config_file: str | None = None) -> RunConfig:
    """The run's settings before `--set`: RunConfig defaults < the recipe < the config file <
    `settings`. Checks every name and value it can without loading TensorFlow (the preset, the
    task, the dataset, the ranges), so a command line calls it first."""
    from tasks import TASKS, get_task
    from zoo import registry

    file_values = load_config_file(config_file) if config_file else {}
    explicit = dict(settings)
    pretrained = _pretrained_config(explicit.get("init_from") or file_values.get("init_from"))
    model = (explicit.pop("model", None) or file_values.get("model")
             or (pretrained.model if pretrained else "transformer_lm_tiny"))
    preset = registry.get_preset(model)
    task = explicit.pop("task", None) or file_values.get("task") or preset.task
    if task not in TASKS:
        get_task(task)  # the error naming the known tasks
    recipe = preset.training if task == preset.task else TASKS.entry(task).recipe
    config = replace(RunConfig(model=model, task=task), recipe, source="recipe")
    config = replace(config, file_values, source=f"--config {config_file}")
    if explicit.get("epochs") is not None:
        explicit.setdefault("train_steps", None)
    if explicit.get("train_steps") is not None:
        explicit.setdefault("epochs", None)
    if explicit.get("warmup_steps") is not None:
        explicit.setdefault("warmup_fraction", None)
    if explicit.get("clip_norm") == 0:
        explicit["clip_norm"] = None
    if explicit.get("dataset") is not None:
        check_dataset(explicit["dataset"], task)
    config = replace(config, explicit, source="settings")
    if pretrained is not None:
        config = _with_pretrained_run(config, pretrained, explicit.get("tokenizer"))
    config.validate()
    return config


def with_options(config: RunConfig, options: Mapping[str, Any] | list[str]) -> RunConfig:
    """`config` with `options` (backbone arguments and task settings, as `--set` gives them)
    applied; this needs the task's class, so TensorFlow."""
    import tasks
    from zoo import registry

    preset = registry.get_preset(config.model)
    task_class = tasks.get_task(config.task)
    task_defaults = {**dataclasses.asdict(task_class.Options()),
                     **registry.task_options(preset, task_class), **config.task_options}
    items = options if isinstance(options, list) else [
        f"{key}={json.dumps(value)}" for key, value in dict(options).items()]
    overrides, task_options = parse_overrides(items, preset.config, task_defaults)
    return dataclasses.replace(
        config,
        model_overrides={**config.model_overrides, **overrides},
        task_options={**config.task_options, **task_options},
    )


def _pretrained_config(init_from: str | None) -> RunConfig | None:
    """The --init_from run's settings; None without one (or when it is gone: a resume needs it
    no more, and a new run says it is missing in make_trainer)."""
    if not init_from or not os.path.isdir(init_from):
        return None
    return load_run_config(init_from)


def _with_pretrained_run(config: RunConfig, pretrained: RunConfig,
                         given_tokenizer: str | None) -> RunConfig:
    """A fine-tuned run reads with its pretrained run's tokenizer and, on the same preset, has
    its backbone settings (`--set` still wins): its config.json says so. A --tokenizer that
    names another is refused rather than ignored."""
    if given_tokenizer is not None and given_tokenizer != pretrained.tokenizer:
        raise ConfigError(f"--tokenizer={given_tokenizer}: the --init_from run reads with "
                          f"{pretrained.tokenizer}, which its fine-tuning keeps; drop --tokenizer")
    overrides = config.model_overrides
    if pretrained.model == config.model:
        overrides = {**pretrained.model_overrides, **overrides}
    return dataclasses.replace(config, tokenizer=pretrained.tokenizer,
                               vocab_size=pretrained.vocab_size, model_overrides=overrides)


def check_dataset(name: str, task: str) -> None:
    """A ConfigError unless `name` is one of the task's named datasets or an existing path."""
    from tasks import TASKS

    known = TASKS.entry(task).datasets()
    if name in known or os.path.exists(name):
        return
    raise ConfigError(f"--dataset: unknown dataset {name!r} for task {task}; choose "
                      f"one of: {', '.join(known)} (or give a file or folder with --data)")


def choose_model_dir(config: RunConfig, model_dir: str | None = None, fresh: bool = False) -> str:
    """`model_dir`, else the latest unfinished run with this exact config (unless `fresh`),
    else a new folder runs/<model>-<dataset>-<time>."""
    if model_dir:
        return model_dir
    dataset = os.path.basename(os.path.normpath(config.data)) if config.data else config.dataset
    prefix = os.path.join("runs", f"{config.model}-{dataset}")
    if not fresh:
        for candidate in sorted(glob.glob(prefix + "-*"), reverse=True):
            if _is_unfinished_run_of(candidate, config):
                return candidate
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def _is_unfinished_run_of(run_dir: str, config: RunConfig) -> bool:
    if os.path.exists(os.path.join(run_dir, "summary.json")):
        return False
    try:
        with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
            return json.load(f) == json.loads(config.to_json())
    except (OSError, json.JSONDecodeError):
        return False


def train_and_export(spec, model_dir: str, export_dir: str | None) -> str | None:
    """Trains (or resumes) the run of `spec` in `model_dir` and exports it under `export_dir`
    (None or "": no export); returns the export's path. The command's work, from Python too."""
    if spec.counted:
        from zoo.train_ngram import train as count_ngrams

        count_ngrams(spec.config, model_dir)
        chief = True
    else:
        from zoo.runs import make_trainer

        trainer = make_trainer(spec, model_dir)
        trainer.fit()
        chief = trainer.chief
    path, parts = None, {}
    if chief and export_dir:
        from zoo.export import export_saved_model

        began = time.time()
        path = export_saved_model(model_dir, export_dir)
        print(f"Exported {path}", flush=True)
        parts["export"] = time.time() - began
    if chief and not spec.counted:  # the last line: where the process's time went
        from zoo.run_log import add_timing, format_timing

        print(format_timing(add_timing(model_dir, **parts)), flush=True)
    return path


def fit(
    config: RunConfig | None = None,
    *,
    model_dir: str | None = None,
    export_dir: str | None = None,
    fresh: bool = False,
    options: Mapping[str, Any] | None = None,
    **settings: Any,
):
    """Trains a run as `python -m zoo.train` does and returns it loaded (`zoo.load`).

    Args:
        config: a whole RunConfig; else the settings below resolve as the command's flags.
        model_dir: the run directory (default: runs/<model>-<dataset>-<time>, or the latest
            unfinished run with the same settings, which resumes).
        export_dir: export the trained run here for TF Serving (default: no export).
        fresh: start anew even if an unfinished run with the same settings exists.
        options: backbone arguments and task settings, as `--set` (e.g. {"num_layers": 2}).
        **settings: RunConfig fields, as the command's flags (model, task, dataset, data,
            tokenizer, batch_size, train_steps, learning_rate, ...).

    Returns:
        The task's pipeline on the trained run; its `metrics` hold summary.json, and
        `export_path` the export (or None).
    """
    from zoo.pipelines import load
    from zoo.runs import RunSpec

    if config is not None:
        if settings or options:
            raise TypeError("fit: give a RunConfig or settings, not both")
        spec = RunSpec.of(config)
    else:
        spec = resolve_spec(settings, options or {})
    model_dir = choose_model_dir(spec.config, model_dir, fresh)
    export_path = train_and_export(spec, model_dir, export_dir)
    pipeline = load(model_dir)
    pipeline.export_path = export_path
    return pipeline
