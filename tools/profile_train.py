"""Where a training step's time goes: TensorFlow's profiler over a few steps, by op class.

    python tools/profile_train.py --model=transformer_lm_tiny --batch_size=12
    python tools/profile_train.py --model=transformer_lm_small --batch_size=64 --steps=3
    python tools/profile_train.py --nojit_compile      # TensorFlow ops instead of XLA's

The trainer is the one `python -m zoo.train` builds (tools/preset_trainer.py), run as it runs
(`steps_per_execution` steps per call). After `--warmup` untimed steps, `--steps` steps are
traced with `tf.profiler.experimental` into `--logdir` (TensorBoard's profile plugin shows the
trace: `pip install tensorboard-plugin-profile; tensorboard --logdir=<logdir>`), and the trace's
events are summed by class: each event's own time (its duration less that of the events nested
in it on the same thread), per step. "host (between ops)" is the wall time of the steps that no
op accounts for: Python, dispatch, the executor's scheduling, threads waiting.

An event is classed by its name and TensorFlow op (XLA's CPU thunks carry the HLO name, and with
`--xla_cpu_enable_xprof_traceme` the scope of the TensorFlow op they came from), first match
wins: see CLASSES.
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

# (class, pattern over "<event name> <tf op>"), first match wins. Scopes come from the layers'
# names (layers/, zoo/models/) and Keras' optimizer.
CLASSES = [
    ("optimizer update", r"(?i)adam|optimizer|apply_gradient|ResourceApply|global_norm|clip"),
    ("loss", r"(?i)crossentropy|SoftmaxCrossEntropy|log_softmax|logsumexp"),
    ("embedding gather/scatter", r"(?i)embedding|gather|scatter|UnsortedSegment"),
    ("layer norm", r"(?i)norm|moments|rsqrt|batchnorm"),
    ("GELU", r"(?i)gelu|erf|tanh"),
    ("attention softmax/mask", r"(?i)softmax|attention.*(select|where|mask|bias)|causal"),
    ("matmul", r"(?i)matmul|einsum|\bdot\b|dot\.|gemm|conv|contract|qkv|dense"),
    ("data input", r"(?i)iterator|IteratorGetNext|dataset|prefetch"),
    ("elementwise/other", r"."),
]
_IGNORED = re.compile(r"(?i)^(ExecutorState::Process|FunctionRun|EagerExecute|"
                      r"EagerLocalExecute|\$)")


def own_times(xspace_path: Path) -> collections.Counter:
    """Own (self) picoseconds of every named event on the host's threads."""
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
                    end, key, own = stack.pop()
                    totals[key] += own
                name = names.get(event.metadata_id, "?")
                op = next((s.str_value for s in event.stats
                           if stat_names.get(s.metadata_id) in ("tf_op", "hlo_op", "name")), "")
                if stack:
                    stack[-1][2] -= event.duration_ps  # the parent's own time excludes it
                key = f"{name} {op}".strip()
                stack.append([event.offset_ps + event.duration_ps, key, event.duration_ps])
            for _, key, own in stack:
                totals[key] += own
    return totals


def classify(totals: collections.Counter) -> collections.Counter:
    classes: collections.Counter = collections.Counter()
    for key, picoseconds in totals.items():
        if _IGNORED.match(key):
            continue
        label = next(name for name, pattern in CLASSES if re.search(pattern, key))
        classes[label] += picoseconds
    return classes


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
    classes = classify(totals)
    ms = {name: ps / 1e9 / steps for name, ps in classes.items()}
    step_ms = wall * 1000 / steps
    # Two threads run ops at once, so op time can exceed the wall time; "host" is what is left.
    host = max(0.0, step_ms - sum(ms.values()) / max(1, _threads_busy(ms, step_ms)))
    print(f"{FLAGS.model}, batch {trainer.config.batch_size}: {trainer.precision.describe()}; "
          f"{step_ms:.1f} ms/step over {steps} traced steps (trace: {trace})")
    print(f"{'class':<28}{'ms/step':>9}{'share':>8}")
    total = sum(ms.values()) + host
    for name, value in sorted({**ms, "host (between ops)": host}.items(), key=lambda x: -x[1]):
        print(f"{name:<28}{value:>9.2f}{value / total:>8.0%}")
    print(f"\nthe {FLAGS.top} ops with the most own time (ms/step):")
    for key, picoseconds in totals.most_common(FLAGS.top):
        print(f"  {picoseconds / 1e9 / steps:8.2f}  {key[:100]}")


def _threads_busy(ms: dict[str, float], step_ms: float) -> float:
    """How many threads the ops kept busy on average (at least 1)."""
    return max(1.0, sum(ms.values()) / step_ms)


if __name__ == "__main__":
    app.run(main)
