"""Presets made into Keras models: a preset's backbone, or the backbone with its task's head.

    >>> import zoo
    >>> model = zoo.build("transformer_lm_tiny", vocab_size=65, num_layers=2)  # backbone + LM head

The preset table itself (`zoo.registry`) imports no Keras; this module brings it in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import keras

import tasks
from zoo import models
from zoo.registry import Preset, get_preset, model_config, task_options


def build_backbone(name: str, vocab_size: int, dtype: Any = None, **overrides: Any) -> keras.Model:
    """Preset `name`'s backbone for a `vocab_size`-token vocabulary (a task builds it on use).

    `dtype` is a Keras dtype policy for it and everything in it (default: the global policy).
    A counted preset's "backbone" is the whole, empty model.
    """
    return construct_backbone(get_preset(name), model_config(name, **overrides), vocab_size,
                              dtype=dtype)


def construct_backbone(preset: Preset, config: Mapping[str, Any], vocab_size: int,
                       dtype: Any = None) -> keras.Model:
    """`preset`'s backbone from arguments already resolved and checked (`model_config`)."""
    kind = preset.name if preset.counted else "backbone"
    make = getattr(models, preset.backbone) if isinstance(preset.backbone, str) else preset.backbone
    return make(vocab_size=vocab_size, **config, dtype=dtype, name=kind)


def build(name: str, vocab_size: int, task: str | None = None, **overrides: Any) -> keras.Model:
    """Preset `name` with its task's head (a causal LM: logits over `vocab_size` tokens), built.

    `overrides` may set backbone arguments and the task's settings (`tie_embeddings`).
    """
    preset = get_preset(name)
    if preset.counted:
        return build_backbone(name, vocab_size, **overrides)
    task_cls = tasks.get_task(task or preset.task)
    task_keys = {f.name for f in dataclasses.fields(task_cls.Options)} - set(preset.config)
    settings = {k: overrides.pop(k) for k in list(overrides) if k in task_keys}
    options = task_cls.options_from({**task_options(preset, task_cls), **settings})
    return task_cls.model_for(build_backbone(name, vocab_size, **overrides), vocab_size, options)
