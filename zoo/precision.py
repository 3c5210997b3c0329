"""Which precision and compilation a run trains in: chosen for its model on this machine.

`--mixed_precision=auto` (the default) and an unset `--jit_compile` leave the choice here:

- A CPU with AVX512_BF16 or AMX runs TensorFlow's oneDNN bfloat16 matmuls at about twice the
  float32 rate (measured on the 2-core reference EPYC: ~390 against ~150-210 GFLOP/s), but XLA's
  CPU backend lowers bfloat16 dots to float32 code, so bfloat16 pays only without XLA. Without
  XLA each step also loses XLA's fusion of the small ops (norms, activations, optimizer updates),
  a roughly fixed cost per layer, so bfloat16 wins only once the matmuls dominate a step:
  `CPU_BF16_MIN_GFLOP_PER_STEP`, measured with `tools/benchmark_train.py` (see the README).
- A GPU of compute capability 8.0 or newer (Ampere, Hopper) has bfloat16 tensor cores, which XLA
  uses: bfloat16 with XLA.
- Everywhere else float32 with XLA.

Weights, optimizer slots and losses stay float32 under `mixed_bfloat16` (Keras' mixed policy;
the heads cast logits to float32). An explicit `--mixed_precision` or `--jit_compile` wins.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

PRECISIONS = ("auto", "none", "mixed_float16", "mixed_bfloat16")

# Below this many matmul GFLOPs in a training step, float32 with XLA beats bfloat16 without it on
# the reference CPU (transformer_lm_tiny at batch 12: ~3.6 GFLOP/step, XLA float32 faster;
# transformer_lm_small at batch 16: ~230 GFLOP/step, bfloat16 1.6x faster). See the README table.
CPU_BF16_MIN_GFLOP_PER_STEP = 40.0


@dataclasses.dataclass(frozen=True)
class Precision:
    """The dtype policy and XLA setting a run trains with, and why, for its first log lines."""

    policy: str  # a Keras dtype policy name: float32, mixed_bfloat16, mixed_float16
    jit_compile: bool
    reason: str

    @property
    def mixed_precision(self) -> str:
        return "none" if self.policy == "float32" else self.policy

    def describe(self) -> str:
        xla = "with XLA" if self.jit_compile else "without XLA"
        return f"{self.policy} {xla} ({self.reason})"


@functools.cache
def cpu_bfloat16_feature() -> str | None:
    """'AMX' or 'AVX512_BF16' when this CPU has native bfloat16 matmuls (Linux), else None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return None
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX512_BF16"
    return None


@dataclasses.dataclass(frozen=True)
class Machine:
    """What the choice depends on: a CPU bfloat16 feature and the first GPU, if any."""

    cpu_bfloat16: str | None = None  # 'AMX', 'AVX512_BF16' or None
    gpu: str | None = None  # its name and compute capability
    gpu_bfloat16: bool = False  # compute capability >= 8.0


def probe_machine() -> Machine:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return Machine(cpu_bfloat16=cpu_bfloat16_feature())
    details = tf.config.experimental.get_device_details(gpus[0])
    capability = tuple(details.get("compute_capability") or (0, 0))
    name = f"{details.get('device_name', gpus[0].name)}, compute capability " + ".".join(
        str(c) for c in capability)
    return Machine(cpu_bfloat16_feature(), name, capability >= (8, 0))


def matmul_flops_per_token(model_config: Mapping[str, Any], vocab_size: int) -> float:
    """Training FLOPs per token in matmuls (6 x weights that multiply activations, Kaplan et al.
    2020, plus attention scores) estimated from a backbone's config before it is built."""
    width = int(model_config.get("hidden_dim", 0))
    layers = int(model_config.get("num_layers", 0))
    if not width or not layers:
        return 0.0
    if model_config.get("cell") in ("lstm", "gru"):
        gates = 4 if model_config["cell"] == "lstm" else 3
        return 6.0 * (layers * gates * 2 * width * width + width * vocab_size)
    intermediate = int(model_config.get("intermediate_dim") or 4 * width)
    per_layer = 4 * width * width + 2 * width * intermediate
    context = int(model_config.get("sequence_length", 0))
    return 6.0 * (layers * per_layer + width * vocab_size) + 12.0 * layers * context * width


def choose(
    mixed_precision: str,
    jit_compile: bool | None,
    flops_per_step: float,
    machine: Machine | None = None,
    recurrent: bool = False,
) -> Precision:
    """The precision for a run of `flops_per_step` matmul FLOPs per step on `machine` (default:
    this one). An explicit precision is kept; an explicit `jit_compile` always wins. A
    `recurrent` backbone keeps float32: bfloat16 state carried over long unrolls is unmeasured."""
    if mixed_precision not in PRECISIONS:
        raise ValueError(f"mixed_precision must be one of {', '.join(PRECISIONS)}")
    if mixed_precision != "auto":
        policy = "float32" if mixed_precision == "none" else mixed_precision
        return Precision(policy, True if jit_compile is None else jit_compile, "as set")
    if recurrent:
        return _decided("float32", True, jit_compile, "recurrent backbone: float32 unless asked")
    machine = machine or probe_machine()
    gflop = flops_per_step / 1e9
    if machine.gpu:
        if machine.gpu_bfloat16:
            return _decided("mixed_bfloat16", True, jit_compile, f"bfloat16 GPU: {machine.gpu}")
        return _decided("float32", True, jit_compile, f"GPU without bfloat16: {machine.gpu}")
    feature = machine.cpu_bfloat16
    if not feature:
        return _decided("float32", True, jit_compile, "CPU without bfloat16 matmuls")
    if jit_compile:
        return _decided("float32", True, jit_compile, "XLA asked for; its CPU dots are float32")
    if gflop < CPU_BF16_MIN_GFLOP_PER_STEP:
        return _decided(
            "float32", True, jit_compile,
            f"CPU has {feature}, but at {gflop:.1f} GFLOP/step XLA's fusion is worth more than "
            f"bfloat16 (pays from {CPU_BF16_MIN_GFLOP_PER_STEP:g})",
        )
    return _decided(
        "mixed_bfloat16", False, jit_compile,
        f"CPU has {feature} and {gflop:.0f} GFLOP/step: oneDNN bfloat16 matmuls, which XLA's "
        "CPU backend would not use",
    )


def _decided(policy: str, jit: bool, asked: bool | None, reason: str) -> Precision:
    return Precision(policy, jit if asked is None else asked, reason)
