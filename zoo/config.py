"""Run configuration as data: a dataclass, resolved from preset < config file < flags < --set.

A resolved `RunConfig` is written to `<model_dir>/config.json`; that file alone is enough to rebuild
the model and its data pipeline later (`zoo.evaluate`, `zoo.export`, resuming a run).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from tasks import run_files
from zoo.precision import PRECISIONS

# The names a RunConfig's optimizer, lr_schedule and strategy may take (zoo.optimizers and
# zoo.distribute build them; the names live here so flags are checked without TensorFlow).
OPTIMIZERS = ("adamw", "adam", "sgd", "muon")
SCHEDULES = ("cosine", "constant", "epoch_decay")
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker_mirrored")


class ConfigError(ValueError):
    """A user-facing configuration problem: unknown keys, bad values, unreadable config files."""


@dataclasses.dataclass
class RunConfig:
    """Everything a training run needs besides the code. Field names match the `zoo.train` flags."""

    model: str = "transformer_lm_tiny"
    task: str | None = None  # None: the preset's task
    dataset: str = "tiny_shakespeare"
    data: str | None = None
    tokenizer: str = "char"
    vocab_size: int | None = None
    model_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    task_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    init_from: str | None = None  # a run directory whose backbone and tokenizer start this one

    batch_size: int = 12
    train_steps: int | None = 2000
    epochs: float | None = None
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 100
    warmup_fraction: float | None = None  # when set: warmup_steps = this x the run's steps
    min_learning_rate: float = 1e-4
    lr_decay_start_epoch: int = 0
    lr_decay_rate: float = 1.0
    beta_1: float = 0.9
    beta_2: float = 0.99
    weight_decay: float = 0.1
    clip_norm: float | None = 1.0
    dropout: float | None = None
    seed: int = 1337
    mixed_precision: str = "auto"  # zoo.precision chooses for the model and machine
    jit_compile: bool | None = None  # None: zoo.precision chooses (XLA unless bfloat16 on a CPU)
    steps_per_execution: int = 10  # training steps per call into TensorFlow (as Keras' fit)

    eval_every: int = 250
    eval_batches: int | None = None
    checkpoint_every: int = 250
    log_every: int | None = None  # None: TensorBoard every 10 steps, log lines every ~5%
    keep_checkpoints: int = 3
    strategy: str = "auto"

    def validate(self) -> RunConfig:
        """Checks every setting's range; the first bad one is a ConfigError naming its flag."""
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ConfigError(f"--{name} must be {rule}, got {getattr(self, name)!r}")

        for name in ("batch_size", "eval_every", "checkpoint_every", "keep_checkpoints",
                     "steps_per_execution"):
            need(_int(getattr(self, name)) and getattr(self, name) >= 1, name, "an integer >= 1")
        for name in ("log_every", "eval_batches", "train_steps", "vocab_size"):
            value = getattr(self, name)
            need(value is None or (_int(value) and value >= 1), name, "an integer >= 1")
        need(self.epochs is None or (_number(self.epochs) and self.epochs > 0), "epochs",
             "a number > 0")
        for name in ("learning_rate", "min_learning_rate", "weight_decay"):
            need(_number(getattr(self, name)) and getattr(self, name) >= 0, name,
                 "a finite number >= 0")
        need(self.clip_norm is None or (_number(self.clip_norm) and self.clip_norm > 0),
             "clip_norm", "a finite number > 0 (0 turns clipping off)")
        need(self.dropout is None or (_number(self.dropout) and 0 <= self.dropout < 1),
             "dropout", "in [0, 1)")
        need(_int(self.warmup_steps) and self.warmup_steps >= 0, "warmup_steps",
             "an integer >= 0")
        need(self.warmup_fraction is None
             or (_number(self.warmup_fraction) and 0 <= self.warmup_fraction < 1),
             "warmup_fraction", "in [0, 1)")
        for name in ("beta_1", "beta_2", "lr_decay_rate"):
            need(_number(getattr(self, name)) and 0 <= getattr(self, name) <= 1, name,
                 "in [0, 1]")
        need(_int(self.lr_decay_start_epoch) and self.lr_decay_start_epoch >= 0,
             "lr_decay_start_epoch", "an integer >= 0")
        need(_int(self.seed), "seed", "an integer")
        need(self.mixed_precision in PRECISIONS, "mixed_precision",
             f"one of {', '.join(PRECISIONS)}")
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        return replace(cls(), values, source="config")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(RunConfig)]


def replace(config: RunConfig, values: Mapping[str, Any], *, source: str) -> RunConfig:
    """Returns `config` with `values` applied; unknown keys are a ConfigError naming `source`."""
    known = set(field_names())
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return dataclasses.replace(config, **dict(values))


def read_settings_file(path: str, flag: str) -> str:
    """The UTF-8 text of the settings file `flag` names; unreadable or binary: a ConfigError."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read {flag} {path}: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{flag} {path}: not UTF-8 text (byte {e.start}); give a text "
                          "file") from None


def load_config_file(path: str) -> dict[str, Any]:
    """Reads a JSON or YAML mapping. A `model:` section holds preset overrides."""
    if not os.path.isfile(path):
        raise ConfigError(f"--config: no such file: {path}")
    text = read_settings_file(path, "--config")
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse error is the user's file, say so in one line
        raise ConfigError(f"--config: cannot parse {path}: {e}".splitlines()[0]) from e
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"--config: {path} must hold a mapping of settings, not {type(values)}")
    values = dict(values)
    if "model" in values and isinstance(values["model"], dict):
        section = values.pop("model")
        name = section.pop("name", None)
        if name is not None:
            values["model"] = name
        values["model_overrides"] = {**values.get("model_overrides", {}), **section}
    if "task" in values and isinstance(values["task"], dict):
        section = values.pop("task")
        name = section.pop("name", None)
        if name is not None:
            values["task"] = name
        values["task_options"] = {**values.get("task_options", {}), **section}
    return values


def parse_overrides(
    items: Iterable[str], model: Mapping[str, Any], task: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parses repeated `key=value` strings into (model overrides, task options).

    A key is a model argument when the preset has it (`model` holds the preset's defaults), else
    a task setting (`task` holds the task's defaults). Values are read as JSON where possible
    (`3`, `0.1`, `true`, `"x"`), else kept as strings, then coerced to the type of the default so
    `--set dropout=0` gives a float.
    """
    parsed: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        for defaults, out in zip((model, task), parsed):
            if key in defaults:
                out[key] = coerce(key, raw.strip(), defaults[key])
                break
        else:
            raise ConfigError(
                f"--set: unknown key {key!r}; the model knows {', '.join(sorted(model))}; "
                f"the task knows {', '.join(sorted(task)) or 'nothing'}"
            )
    return parsed


def coerce(key: str, raw: str, default: Any) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if default is None or value is None:
        return value
    target = type(default)
    if target is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"--set {key}: expected true or false, got {raw!r}")
    if target in (int, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        if target is int and float(value) != int(value):
            raise ConfigError(f"--set {key}: expected an integer, got {raw!r}")
        return target(value)
    if isinstance(value, target):
        return value
    raise ConfigError(f"--set {key}: expected {target.__name__}, got {raw!r}")


def load_run_config(model_dir: str) -> RunConfig:
    """The RunConfig saved in run directory `model_dir` (its config.json)."""
    path = os.path.join(model_dir, run_files.CONFIG)
    if not os.path.isfile(path):
        raise ConfigError(f"{model_dir} is not a run directory: no {run_files.CONFIG}")
    with open(path, encoding="utf-8") as f:
        try:
            values = json.load(f)
        except json.JSONDecodeError as e:
            message = f"{path} is not valid JSON ({e}); the run's settings are unreadable"
            raise ConfigError(message) from None
    return RunConfig.from_dict(values)
