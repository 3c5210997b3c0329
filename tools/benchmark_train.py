"""Training throughput of a zoo preset on this machine: tokens/s and achieved GFLOP/s.

    python tools/benchmark_train.py --model=transformer_lm_tiny
    python tools/benchmark_train.py --model=transformer_lm_small --steps=20 --nojit_compile

FLOPs per trained token follow Kaplan et al. (2020) / PaLM: 6 x (weights used in matmuls) for the
forward and backward passes, plus 12 x layers x context x width for attention scores in a
Transformer. The token-embedding lookup is not a matmul, but a tied output projection is.
Compare the GFLOP/s with the CPU's fp32 matmul peak (~120 GFLOP/s on the 2-core reference machine).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time

import numpy as np
from absl import app, flags

flags.DEFINE_string("model", "transformer_lm_tiny", "Zoo preset.")
flags.DEFINE_string("dataset", None, "Dataset (default: the preset's).")
flags.DEFINE_integer("batch_size", None, "Global batch size (default: the preset's).")
flags.DEFINE_integer("steps", 50, "Timed steps.")
flags.DEFINE_integer("warmup", 5, "Untimed steps first (tracing and compilation).")
flags.DEFINE_bool("jit_compile", True, "Compile the step with XLA.")
flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_float16", "mixed_bfloat16"], "")
FLAGS = flags.FLAGS


def matmul_flops_per_token(model, sequence_length: int) -> float:
    """6N + attention, N counting weights that multiply activations (see module docstring)."""
    tied = getattr(model, "tie_embeddings", False)
    weights = 0
    for v in model.trainable_weights:
        if len(v.shape) < 2 or "position_embedding" in v.path:
            continue
        if "token_embedding" in v.path and not tied:
            continue
        weights += int(np.prod(v.shape))
    flops = 6.0 * weights
    backbone = getattr(model, "backbone", model)
    if getattr(backbone, "context_length", None):  # a Transformer: attention scores too
        flops += 12.0 * backbone.num_layers * sequence_length * backbone.hidden_dim
    return flops


def main(argv: list[str]) -> None:
    del argv
    from zoo.config import RunConfig, replace
    from zoo.registry import get_preset
    from zoo.runs import make_trainer

    preset = get_preset(FLAGS.model)
    config = replace(RunConfig(model=FLAGS.model), preset.training, source="preset")
    config = dataclasses.replace(
        config,
        dataset=FLAGS.dataset or config.dataset,
        batch_size=FLAGS.batch_size or config.batch_size,
        train_steps=FLAGS.warmup + FLAGS.steps,
        epochs=None,
        jit_compile=FLAGS.jit_compile,
        mixed_precision=FLAGS.mixed_precision,
        strategy="default",
    )
    with tempfile.TemporaryDirectory() as model_dir:
        trainer = make_trainer(config, os.path.join(model_dir, "run"))
        iterator = trainer.train_iterator(0)
        for _ in range(FLAGS.warmup):
            float(trainer.train_step(iterator)[0])
        times = []
        for _ in range(FLAGS.steps):
            began = time.perf_counter()
            float(trainer.train_step(iterator)[0])
            times.append(time.perf_counter() - began)
    step = float(np.median(times))
    tokens = trainer.task.tokens_per_step(config.batch_size)
    flops = matmul_flops_per_token(trainer.model, trainer.task.sequence_length) * tokens
    print(
        f"{FLAGS.model}: {trainer.model.count_params():,} parameters, batch {config.batch_size} x "
        f"{trainer.task.sequence_length} tokens, jit_compile={FLAGS.jit_compile}, "
        f"precision={FLAGS.mixed_precision}"
    )
    print(
        f"  {step * 1000:.1f} ms/step (median of {FLAGS.steps})  "
        f"{tokens / step:,.0f} tokens/s  {flops / step / 1e9:.1f} GFLOP/s"
    )


if __name__ == "__main__":
    app.run(main)
