"""The trainer `python -m zoo.train --model=<preset>` would build, for the benchmarks and the
profiler (tools/benchmark_train.py, tools/profile_train.py)."""

from __future__ import annotations

import os


def benchmark_trainer(model_name: str, model_dir: str, *, batch_size: int | None,
                      dataset: str | None, steps: int, mixed_precision: str,
                      jit_compile: bool | None):
    """The trainer `python -m zoo.train --model=<model_name>` would build, for `steps` steps,
    writing into `model_dir` (a scratch folder); tools/profile_train.py uses it too."""
    import dataclasses

    from zoo.config import RunConfig, replace
    from zoo.registry import get_preset
    from zoo.runs import make_trainer

    preset = get_preset(model_name)
    config = replace(RunConfig(model=model_name), preset.training, source="preset")
    values = dict(dataset=dataset or config.dataset, batch_size=batch_size or config.batch_size,
                  train_steps=steps, epochs=None, mixed_precision=mixed_precision,
                  strategy="default")
    if jit_compile is not None:
        values["jit_compile"] = jit_compile
    return make_trainer(dataclasses.replace(config, **values), os.path.join(model_dir, "run"))
