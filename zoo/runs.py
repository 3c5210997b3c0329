"""A run: its settings, its task and its model, made new for training or rebuilt from its folder.

This is where the zoo joins models and tasks: the preset names a backbone and a default task,
the run's config picks the task and its settings, and the task puts its head on the backbone.

    run = load_run("runs/transformer_lm_tiny-tiny_shakespeare-20261201-120000")
    run.model, run.task.tokenizer, run.step

    trainer = make_trainer(RunConfig(train_steps=100), "runs/demo")  # a new (or resumed) run

`load_run` reads only the run directory: config.json, the task's files (tokenizer/...) and the
latest checkpoint. It builds no optimizer, reads no corpus and sets no global state (seed, dtype
policy), so a run can be evaluated on another split, exported or served once its data is gone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import keras

import tasks
from tasks.data import DataError
from zoo import checkpoints, registry
from zoo.config import ConfigError, RunConfig
from zoo.precision import Precision, matmul_flops_per_token

CONFIG_FILE = "config.json"
COUNTED_MODEL_FILE = "model.keras"  # a counted model's counts, saved whole


@dataclasses.dataclass
class Run:
    """A trained run, loaded: the model holds the latest checkpoint's weights (float32)."""

    model_dir: str
    config: RunConfig
    task: tasks.Task
    model: keras.Model
    step: int

    @property
    def preset(self) -> registry.Preset:
        return registry.get_preset(self.config.model)


def model_overrides(config: RunConfig) -> dict[str, Any]:
    """The backbone arguments the run changes from its preset (`--set`, `--dropout`)."""
    overrides = dict(config.model_overrides)
    if config.dropout is not None:
        overrides["dropout"] = config.dropout
    return overrides


def task_class(config: RunConfig) -> type[tasks.Task]:
    return tasks.get_task(config.task or registry.get_preset(config.model).task)


def task_settings(config: RunConfig) -> dict[str, Any]:
    """The task's settings: the preset's for its own task, then the run's (`--set`)."""
    preset = registry.get_preset(config.model)
    return {**registry.task_options(preset, task_class(config)), **config.task_options}


def make_task(
    config: RunConfig, run_dir: str | None = None, tokenizer: Any = None
) -> tasks.Task:
    """The run's task. A tokenizer saved in `run_dir` wins, then `tokenizer` (a pretrained
    run's), else one is learned from the training split."""
    backbone = registry.model_config(config.model, **model_overrides(config))
    spec = tasks.DataSpec(
        dataset=config.data or config.dataset,
        tokenizer=config.tokenizer,
        sequence_length=int(backbone["sequence_length"]),
        vocab_size=config.vocab_size,
    )
    return task_class(config).create(spec, task_settings(config), run_dir=run_dir,
                                     tokenizer=tokenizer)


def build_model(config: RunConfig, task: tasks.Task, dtype: Any = None) -> keras.Model:
    """The run's backbone with the task's head, built, in dtype policy `dtype`."""
    backbone = registry.build_backbone(
        config.model, task.tokenizer.vocab_size, dtype=dtype, **model_overrides(config)
    )
    return task.build_model(backbone)


def load_run_config(model_dir: str) -> RunConfig:
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise ConfigError(f"{model_dir} is not a run directory: no {CONFIG_FILE}")
    with open(path, encoding="utf-8") as f:
        try:
            values = json.load(f)
        except json.JSONDecodeError as e:
            message = f"{path} is not valid JSON ({e}); the run's settings are unreadable"
            raise ConfigError(message) from None
    return RunConfig.from_dict(values)


def load_run(model_dir: str) -> Run:
    """The run in `model_dir` with its latest weights; see the module docstring."""
    if not os.path.isdir(model_dir):
        raise ConfigError(f"no such run directory: {model_dir}")
    config = load_run_config(model_dir)
    if not os.path.isdir(os.path.join(model_dir, "tokenizer")):
        raise ConfigError(f"{model_dir} has no tokenizer/: the run never started training")
    task = make_task(config, run_dir=model_dir)
    if registry.get_preset(config.model).counted:
        path = os.path.join(model_dir, COUNTED_MODEL_FILE)
        if not os.path.isfile(path):
            raise ConfigError(f"{model_dir} has no {COUNTED_MODEL_FILE}: the counting never ended")
        return Run(model_dir, config, task, keras.saving.load_model(path), step=0)
    model = build_model(config, task, dtype="float32")
    step = checkpoints.restore_model(model, model_dir)
    if step == 0:
        raise ConfigError(f"{model_dir} has no checkpoint yet")
    return Run(model_dir, config, task, model, step)


def make_trainer(
    config: RunConfig,
    model_dir: str,
    *,
    task: tasks.Task | None = None,
    strategy: Any = None,
):
    """A Trainer for `config` in `model_dir`: the run's task (or `task`), and a model builder
    that starts from `config.init_from`'s backbone when there is one. Seeds everything with
    `config.seed` first, so a run is the same whenever it is made."""
    from zoo.distribute import make_strategy
    from zoo.trainer import Trainer

    config.validate()
    registry.model_config(config.model, **model_overrides(config))  # arguments in range
    # Then: a multi-worker strategy must exist before TensorFlow runs any op.
    strategy = strategy or make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    if config.data and not os.path.exists(config.data):
        raise DataError(f"--data: no such file or folder: {config.data}")
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ConfigError(f"--model_dir: {model_dir} is a file, not a run directory")
    if os.path.isfile(os.path.join(model_dir, CONFIG_FILE)):
        load_run_config(model_dir)  # a damaged config.json is an error, never overwritten
    resuming = checkpoints.latest(model_dir) is not None  # its own weights and tokenizer win
    pretrained = load_run(config.init_from) if config.init_from and not resuming else None
    if task is None:
        tokenizer = pretrained.task.tokenizer if pretrained else None
        task = make_task(config, run_dir=model_dir, tokenizer=tokenizer)

    def build(dtype: str) -> keras.Model:
        model = build_model(config, task, dtype=dtype)
        if pretrained is not None:
            task.initialize(model, pretrained.model)
        return model

    return Trainer(config, model_dir, task, build, strategy=strategy, describe=config.model,
                   precision=choose_precision(config, task))


def choose_precision(config: RunConfig, task: tasks.Task) -> Precision:
    """zoo.precision's choice for this run, from its backbone's config: matmul FLOPs per step,
    and whether the backbone is recurrent."""
    from zoo.trainer import resolve_precision

    backbone = registry.model_config(config.model, **model_overrides(config))
    flops = matmul_flops_per_token(backbone, task.tokenizer.vocab_size)
    return resolve_precision(config, flops * task.tokens_per_step(config.batch_size),
                             recurrent=bool(backbone.get("cell")))
