"""Where a training step's time goes: TensorFlow's profiler over a few steps, by op class.

    python tools/profile_train.py --model=transformer_lm_tiny --batch_size=12
    python tools/profile_train.py --model=transformer_lm_small --batch_size=64 --steps=3
    python tools/profile_train.py --nojit_compile      # TensorFlow ops instead of XLA's

The trainer is the one `python -m zoo.train` builds (tools/preset_trainer.py), run as it runs
(`steps_per_execution` steps per call). After `--warmup` untimed steps, `--steps` steps are
traced with `tf.profiler.experimental` into `--logdir` (TensorBoard's profile plugin shows the
trace: `pip install tensorboard-plugin-profile; tensorboard --logdir=<logdir>`), and the trace's
events are summed by class: each event's own time (its duration less that of the events nested
in it on the same thread), per step, over all threads (two cores: up to twice the wall time).
Time a thread spends waiting for another (the Python thread for the step, the executor for an
XLA program) is left out; the executor's and XLA's own bookkeeping is "runtime".

An event is classed by its TensorFlow op's type and scope, or, for XLA's CPU thunks, by the
HLO instruction's name (`event_class`). Tracing costs time of its own, so the traced steps
run slower than `tools/benchmark_train.py` says; the shares are what the table is for.
"""

from __future__ import annotations

import collections
import os
import re
import tempfile
import time
from pathlib import Path

from absl import app, flags

flags.DEFINE_string("model", "transformer_lm_tiny", "Zoo preset.")
flags.DEFINE_integer("batch_size", None, "Global batch size (default: the preset's).")
flags.DEFINE_integer("steps", 20, "Traced steps.")
flags.DEFINE_integer("warmup", 10, "Untraced steps first (tracing, compilation, warm caches).")
flags.DEFINE_bool("jit_compile", None, "Compile the step with XLA (default: as the trainer would).")
flags.DEFINE_enum("mixed_precision", "auto", ["auto", "none", "mixed_float16", "mixed_bfloat16"],
                  "Precision (default: as the trainer would choose).")
flags.DEFINE_string("logdir", None, "Where the trace goes (default: a temporary folder).")
flags.DEFINE_integer("top", 12, "Also list the N ops with the most own time.")
FLAGS = flags.FLAGS

# How an event is read. TensorFlow kernels carry "scope:Type" (their `tf_op`); XLA's CPU thunks
# carry the HLO instruction's name (dot.12, MatMul.3, add_multiply_fusion.2...), and XLA fuses
# norms, softmax and GELU into one another, so its non-matmul work is one class.
_MATMUL_TYPES = {"MatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "_FusedMatMul"}
_RUNTIME = re.compile(r"^(ExecutorState::Process|ThunkExecutor::Execute|SlinkyThreadPool::Await|"
                      r"ExecutorDoneCallback|ThreadpoolListener)")
_WAITING = re.compile(r"^(KernelAndDeviceFunc::Run|BlockUntilReady|CpuExecutable::|"
                      r"EagerExecute|EagerLocalExecute|EagerKernelExecute|TFE_Py|train_steps|"
                      r"ExecutorState::ProcessAsync)")
_SCOPES = [  # (class, pattern over a kernel's scope), first match wins
    ("optimizer update", r"(?i)adam|optimizer|clip_by_global_norm|global_norm"),
    ("loss", r"(?i)crossentropy|log_softmax"),
    ("attention softmax/mask", r"(?i)dot_product_attention|softmax"),
    ("layer norm", r"(?i)norm"),
    ("GELU", r"(?i)gelu|\bErf"),
    ("embedding gather/scatter", r"(?i)embedding"),
]


def event_class(name: str, tf_op: str) -> str | None:
    """The class of one event's own time; None for time spent waiting on other threads."""
    if _WAITING.match(name):
        return None
    if _RUNTIME.match(name):
        return "runtime (executor, XLA dispatch)"
    if re.match(r"^(Iterator|PrefetchProduce|PrefetchConsume|IteratorGetNext)", name):
        return "data input"
    if tf_op:
        scope, _, kind = tf_op.rpartition(":")
        if kind in _MATMUL_TYPES:
            return "matmul"
        if kind in ("ResourceGather", "GatherV2", "UnsortedSegmentSum", "ResourceScatterAdd"):
            return "embedding gather/scatter"
        for label, pattern in _SCOPES:
            if re.search(pattern, scope):
                return label
        return "elementwise/other"
    if re.match(r"^(dot|MatMul|ynn_fusion)", name):
        return "matmul"  # (XNNPACK's fusions are its matmuls)
    if re.search(r"fusion|copy|transpose|reduce|add|multiply|select|broadcast|convert", name):
        return "XLA fusions (norms, softmax, GELU, elementwise)"
    return "other"


def own_times(xspace_path: Path) -> collections.Counter:
    """Own (self) picoseconds by (event name, TensorFlow op) over the host's threads."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(xspace_path.read_bytes())
    totals: collections.Counter = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        names = {k: m.name for k, m in plane.event_metadata.items()}
        stat_names = {k: m.name for k, m in plane.stat_metadata.items()}
        for line in plane.lines:
            events = sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps))
            stack: list[list] = []  # [end, key, own]
            for event in events:
                while stack and stack[-1][0] <= event.offset_ps:
                    _, key, own = stack.pop()
                    totals[key] += max(own, 0)
                name = names.get(event.metadata_id, "?")
                op = next((s.str_value for s in event.stats
                           if stat_names.get(s.metadata_id) == "tf_op"), "")
                if not op and ":" in name and "::" not in name:
                    op = name  # a TensorFlow kernel's event is named "scope:Type"
                end = event.offset_ps + event.duration_ps
                if stack:  # the parent's own time excludes what of it this event covers
                    stack[-1][2] -= min(end, stack[-1][0]) - event.offset_ps
                stack.append([end, (name, op), event.duration_ps])
            for _, key, own in stack:
                totals[key] += max(own, 0)
    return totals


def classify(totals: collections.Counter) -> collections.Counter:
    classes: collections.Counter = collections.Counter()
    for (name, op), picoseconds in totals.items():
        label = event_class(name, op)
        if label is not None:
            classes[label] += picoseconds
    return classes


def print_table(title: str, ms: dict[str, float], step_ms: float) -> None:
    """Each class's CPU time per step (summed over threads) and its share of all of it."""
    busy = sum(ms.values())
    print(f"{title}: {step_ms:.1f} ms/step wall, {busy:.1f} ms/step of CPU in ops "
          f"({busy / step_ms:.1f} threads busy)")
    print(f"  {'class':<48}{'CPU ms/step':>12}{'share':>8}")
    for name, value in sorted(ms.items(), key=lambda x: -x[1]):
        print(f"  {name:<48}{value:>12.2f}{value / busy:>8.0%}")


def main(argv: list[str]) -> None:
    del argv
    from zoo.startup import import_tensorflow_quietly

    import_tensorflow_quietly()
    import sys

    import tensorflow as tf

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from preset_trainer import benchmark_trainer

    logdir = FLAGS.logdir or tempfile.mkdtemp(prefix="zoo-profile-")
    with tempfile.TemporaryDirectory() as model_dir:
        trainer = benchmark_trainer(
            FLAGS.model, model_dir, batch_size=FLAGS.batch_size, dataset=None,
            steps=FLAGS.warmup + FLAGS.steps + 10, mixed_precision=FLAGS.mixed_precision,
            jit_compile=FLAGS.jit_compile)
        iterator = trainer.train_iterator(0)
        chunk = max(1, min(trainer.config.steps_per_execution, FLAGS.steps))
        for _ in range(max(1, FLAGS.warmup // chunk)):
            float(trainer.train_step(iterator, chunk)[0])
        calls = max(1, FLAGS.steps // chunk)
        tf.profiler.experimental.start(logdir)
        began = time.perf_counter()
        for _ in range(calls):
            float(trainer.train_step(iterator, chunk)[0])
        wall = time.perf_counter() - began
        tf.profiler.experimental.stop()
    steps = calls * chunk
    trace = max(Path(logdir).rglob("*.xplane.pb"), key=os.path.getmtime)
    totals = own_times(trace)
    ms = {name: ps / 1e9 / steps for name, ps in classify(totals).items()}
    print_table(f"{FLAGS.model}, batch {trainer.config.batch_size}, "
                f"{trainer.precision.describe()}", ms, wall * 1000 / steps)
    print(f"  (traced: TensorBoard's profile plugin reads {trace.parent.parent.parent.parent})")
    print(f"\n  the {FLAGS.top} events with the most own time (CPU ms/step):")
    working = [(key, ps) for key, ps in totals.items() if event_class(*key) is not None]
    for (name, op), picoseconds in sorted(working, key=lambda x: -x[1])[:FLAGS.top]:
        print(f"  {picoseconds / 1e9 / steps:8.2f}  {name[:40]}  {op[-70:]}")


if __name__ == "__main__":
    app.run(main)
