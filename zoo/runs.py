"""A run: its settings, its task and its model, made new for training or rebuilt from its folder.

This is where the zoo joins models and tasks: the preset names a backbone and a default task,
the run's config picks the task and its settings, and the task puts its head on the backbone.

    run = load_run("runs/transformer_lm_tiny-tiny_shakespeare-20261201-120000")
    run.model, run.task.tokenizer, run.step

    trainer = make_trainer(RunConfig(train_steps=100), "runs/demo")  # a new (or resumed) run

Everything a run's settings imply (its preset, task class and settings, backbone arguments) is
worked out once, in `RunSpec.of(config)`, and passed down from there.

`load_run` reads only the run directory: config.json, the task's files (tokenizer/...) and the
latest checkpoint. It builds no optimizer, reads no corpus and sets no global state (seed, dtype
policy), so a run can be evaluated on another split, exported or served once its data is gone.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keras

import tasks
from tasks import run_files
from tasks.data import DataError
from zoo import builders, checkpoints, precision, registry
from zoo.config import ConfigError, RunConfig, load_run_config


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A run's settings resolved once: the checked config, its preset, the task class and its
    settings (the preset's for its own task, then the run's `--set`), and the backbone's
    arguments (the preset's with `--set` and `--dropout` applied, checked)."""

    config: RunConfig
    preset: registry.Preset
    task_class: type[tasks.Task]
    task_options: dict[str, Any]
    backbone_config: dict[str, Any]

    @classmethod
    def of(cls, config: RunConfig) -> RunSpec:
        """The spec of `config`; a bad setting is a ConfigError (or DataError) naming it."""
        config.validate()
        preset = registry.get_preset(config.model)
        task_class = tasks.get_task(config.task or preset.task)
        overrides = dict(config.model_overrides)
        if config.dropout is not None:
            overrides["dropout"] = config.dropout
        options = {**registry.task_options(preset, task_class), **config.task_options}
        task_class.options_from(options)  # unknown keys fail here, before anything is built
        return cls(config, preset, task_class, options,
                   registry.model_config(config.model, **overrides))

    @property
    def counted(self) -> bool:
        return self.preset.counted

    def data_spec(self) -> tasks.DataSpec:
        config = self.config
        return tasks.DataSpec(
            dataset=config.data or config.dataset,
            tokenizer=config.tokenizer,
            sequence_length=int(self.backbone_config["sequence_length"]),
            vocab_size=config.vocab_size,
            backbone=self.preset.backbone,
        )

    def make_task(self, run_dir: str | None = None, tokenizer: Any = None) -> tasks.Task:
        """The run's task. A tokenizer saved in `run_dir` wins, then `tokenizer` (a pretrained
        run's), else one is learned from the training split."""
        return self.task_class.create(self.data_spec(), self.task_options, run_dir=run_dir,
                                      tokenizer=tokenizer)

    def build_model(self, task: tasks.Task, dtype: Any = None) -> keras.Model:
        """The run's backbone with the task's head, built, in dtype policy `dtype`."""
        backbone = builders.construct_backbone(self.preset, self.backbone_config,
                                               task.tokenizer.vocab_size, dtype=dtype)
        return task.build_model(backbone)

    def choose_precision(self, task: tasks.Task) -> precision.Precision:
        """zoo.precision's choice for this run: from the matmul FLOPs of one step, and whether
        the backbone is recurrent."""
        flops = precision.matmul_flops_per_token(self.backbone_config, task.tokenizer.vocab_size)
        return precision.choose(
            self.config.mixed_precision, self.config.jit_compile,
            flops * task.tokens_per_step(self.config.batch_size),
            recurrent=bool(self.backbone_config.get("cell")),
        )


@dataclasses.dataclass
class Run:
    """A trained run, loaded: the model holds the latest checkpoint's weights (float32)."""

    model_dir: str
    spec: RunSpec
    task: tasks.Task
    model: keras.Model
    step: int

    @property
    def config(self) -> RunConfig:
        return self.spec.config

    @property
    def preset(self) -> registry.Preset:
        return self.spec.preset



def load_run(model_dir: str) -> Run:
    """The run in `model_dir` with its latest weights; see the module docstring."""
    if not os.path.isdir(model_dir):
        raise ConfigError(f"no such run directory: {model_dir}")
    spec = RunSpec.of(load_run_config(model_dir))
    if not os.path.isdir(os.path.join(model_dir, run_files.TOKENIZER)):
        raise ConfigError(f"{model_dir} has no tokenizer/: the run never started training")
    task = spec.make_task(run_dir=model_dir)
    if spec.counted:
        path = os.path.join(model_dir, run_files.COUNTED_MODEL)
        if not os.path.isfile(path):
            raise ConfigError(
                f"{model_dir} has no {run_files.COUNTED_MODEL}: the counting never ended")
        return Run(model_dir, spec, task, keras.saving.load_model(path), step=0)
    model = spec.build_model(task, dtype="float32")
    step = checkpoints.restore_model(model, model_dir)
    if step is None:
        raise ConfigError(f"{model_dir} has no checkpoint yet")
    return Run(model_dir, spec, task, model, step)


def make_trainer(
    config: RunConfig | RunSpec,
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

    spec = config if isinstance(config, RunSpec) else RunSpec.of(config)
    config = spec.config
    # Then: a multi-worker strategy must exist before TensorFlow runs any op.
    strategy = strategy or make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    if config.data and not os.path.exists(config.data):
        raise DataError(f"--data: no such file or folder: {config.data}")
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ConfigError(f"--model_dir: {model_dir} is a file, not a run directory")
    if os.path.isfile(os.path.join(model_dir, run_files.CONFIG)):
        load_run_config(model_dir)  # a damaged config.json is an error, never overwritten
    resuming = checkpoints.latest(model_dir) is not None  # its own weights and tokenizer win
    pretrained = load_run(config.init_from) if config.init_from and not resuming else None
    if task is None:
        tokenizer = pretrained.task.tokenizer if pretrained else None
        task = spec.make_task(run_dir=model_dir, tokenizer=tokenizer)

    def build(dtype: str) -> keras.Model:
        model = spec.build_model(task, dtype=dtype)
        if pretrained is not None:
            task.initialize(model, pretrained.model)
        return model

    return Trainer(config, model_dir, task, build, strategy=strategy, describe=config.model,
                   precision=spec.choose_precision(task))
