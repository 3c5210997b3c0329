"""Training throughput of zoo presets on this machine, against this machine's matmul peak.

    python tools/benchmark_train.py                                   # the three presets below
    python tools/benchmark_train.py --model=transformer_lm_small --batch_size=16 --steps=5
    python tools/benchmark_train.py --model=transformer_lm_tiny --mixed_precision=mixed_bfloat16 \
        --nojit_compile

The run first measures the peak of a large matmul in float32 and in bfloat16 (TensorFlow eager,
oneDNN on a CPU), then times each preset's training steps as the trainer runs them
(`steps_per_execution` per call; the median per step over --steps, after --warmup untimed ones),
in the precision the trainer would choose (`--mixed_precision=auto`) or the one given, and prints
tokens/s and achieved matmul GFLOP/s as a fraction of the peak of the precision it ran in. FLOPs
per trained token follow Kaplan et al. (2020) / PaLM: 6 x (weights used in matmuls), plus
12 x layers x context x width for the attention scores of a Transformer; the token-embedding
lookup is not a matmul, a tied output projection is.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/preset_trainer.py

DEFAULT_MODELS = ("transformer_lm_tiny", "transformer_lm_small", "lstm_lm_small")

flags.DEFINE_list("model", list(DEFAULT_MODELS), "Zoo presets, comma-separated.")
flags.DEFINE_string("dataset", None, "Dataset (default: each preset's).")
flags.DEFINE_integer("batch_size", None, "Global batch size (default: each preset's).")
flags.DEFINE_integer("steps", 20, "Timed steps.")
flags.DEFINE_integer("warmup", 3, "Untimed steps first (tracing and compilation).")
flags.DEFINE_bool("jit_compile", None, "Compile the step with XLA (default: as the trainer would).")
flags.DEFINE_enum("mixed_precision", "auto", ["auto", "none", "mixed_float16", "mixed_bfloat16"],
                  "Precision (default: as the trainer would choose).")
flags.DEFINE_integer("peak_size", 2048, "Side of the square matmul that measures the peak.")
FLAGS = flags.FLAGS


def matmul_peak_gflops(dtype: str, size: int, repeats: int = 8) -> float:
    """The best of `repeats` size x size matmuls in `dtype`, in GFLOP/s."""
    import tensorflow as tf

    a = tf.random.normal((size, size), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    tf.matmul(a, b).numpy()  # oneDNN's first call picks its kernel
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        tf.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - began)
    return 2.0 * size**3 / best / 1e9


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


def benchmark(model_name: str, peaks: dict[str, float]) -> None:
    import keras
    from preset_trainer import benchmark_trainer

    with tempfile.TemporaryDirectory() as model_dir:
        trainer = benchmark_trainer(
            model_name, model_dir, batch_size=FLAGS.batch_size, dataset=FLAGS.dataset,
            steps=FLAGS.warmup + FLAGS.steps + 10, mixed_precision=FLAGS.mixed_precision,
            jit_compile=FLAGS.jit_compile)
        config = trainer.config
        iterator = trainer.train_iterator(0)
        for _ in range(FLAGS.warmup):
            float(trainer.train_step(iterator)[0])
        # As the trainer runs: `steps_per_execution` steps per call, each call timed.
        chunk = max(1, min(config.steps_per_execution, FLAGS.steps))
        times = []
        for _ in range(max(1, FLAGS.steps // chunk)):
            began = time.perf_counter()
            float(trainer.train_step(iterator, chunk)[0])
            times.append((time.perf_counter() - began) / chunk)
    keras.mixed_precision.set_global_policy("float32")
    step = float(np.median(times))
    tokens = trainer.task.tokens_per_step(config.batch_size)
    flops = matmul_flops_per_token(trainer.model, trainer.task.sequence_length) * tokens
    gflops = flops / step / 1e9
    peak = peaks["bfloat16" if "bfloat16" in trainer.precision.policy else "float32"]
    print(
        f"{model_name}: {trainer.model.count_params():,} parameters, batch {config.batch_size} x "
        f"{trainer.task.sequence_length} tokens, {trainer.precision.describe()}\n"
        f"  {step * 1000:.1f} ms/step (median of {len(times)} calls of {chunk})  "
        f"{tokens / step:,.0f} tokens/s  "
        f"{gflops:.1f} GFLOP/s = {gflops / peak:.0%} of this machine's matmul peak",
        flush=True,
    )
    if trainer.task.name == "translation":  # bucketed batches: most rows are shorter
        print("  (translation: FLOPs counted at the full padded length, an upper bound)")


def main(argv: list[str]) -> None:
    del argv
    from zoo.startup import import_tensorflow_quietly

    import_tensorflow_quietly()
    peaks = {dtype: matmul_peak_gflops(dtype, FLAGS.peak_size) for dtype in ("float32", "bfloat16")}
    print(f"matmul peak ({FLAGS.peak_size}^3): float32 {peaks['float32']:.0f} GFLOP/s, "
          f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s", flush=True)
    for name in FLAGS.model:
        benchmark(name, peaks)


if __name__ == "__main__":
    app.run(main)
