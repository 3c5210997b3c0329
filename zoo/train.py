"""`python -m zoo.train`: train a zoo preset on a dataset, on any tf.distribute strategy.

With no flags: the `transformer_lm_tiny` character model on Tiny Shakespeare, a few minutes on a
laptop CPU. Settings resolve as: RunConfig defaults < the preset's recipe < --config file < flags
given on the command line < --set (model arguments). Running the same command again after an
interruption resumes the latest unfinished run of that model and dataset (--fresh starts anew).

    python -m zoo.train --list_models
    python -m zoo.train --model=lstm_lm_small            # PTB, Zaremba et al.'s recipe
    python -m zoo.train --data=my_corpus/ --tokenizer=wordpiece --set num_layers=6
    python -m zoo.train --strategy=mirrored --cpu_devices=2
"""

from __future__ import annotations

import dataclasses

from absl import flags

# Light imports only: the flags are checked before TensorFlow loads (zoo.cli).
from tasks import TASKS
from tasks.catalog import TOKENIZER_KINDS
from zoo import cli
from zoo.config import OPTIMIZERS, SCHEDULES, STRATEGIES, ConfigError, RunConfig
from zoo.precision import PRECISIONS
from zoo.registry import list_models
from zoo.startup import exit_now

_from_preset = " (default: the preset's recipe)"
flags.DEFINE_bool("list_models", False, "Print every preset with its size and task, and exit.")
flags.DEFINE_bool("list_tasks", False, "Print every task and exit.")
flags.DEFINE_enum("model", "transformer_lm_tiny", list_models(), "Zoo preset to train.")
flags.DEFINE_enum("task", None, list(TASKS), "Task to train the preset's backbone for"
                  + " (default: the preset's task).")
flags.DEFINE_string("init_from", None, "A run directory to start from: its backbone weights and "
                    "tokenizer (fine-tuning); the task's head starts new.")
flags.DEFINE_string("dataset", None, "A dataset the task knows by name"
                    + _from_preset + ".")
flags.DEFINE_string("data", None, "A text file or folder to train on instead of --dataset.")
flags.DEFINE_enum("tokenizer", None, list(TOKENIZER_KINDS), "Tokenizer" + _from_preset + ".")
flags.DEFINE_integer("vocab_size", None, "Vocabulary size for learned tokenizers.")
flags.DEFINE_string(
    "model_dir", None, "Run directory (default: runs/<model>-<dataset>-<timestamp>)."
)
flags.DEFINE_bool("fresh", False, "Start a new run even if an unfinished one matches.")
flags.DEFINE_string("config", None, "A JSON or YAML file of settings; `model:` holds preset args.")
flags.DEFINE_multi_string("set", [], "key=value: a backbone argument of the preset or a setting "
                          "of the task (e.g. augment=eda for text_classification); repeatable.")
flags.DEFINE_integer("batch_size", None, "Global batch size" + _from_preset + ".")
flags.DEFINE_integer("train_steps", None, "Training steps" + _from_preset + ".")
flags.DEFINE_float("epochs", None, "Train for this many passes over the data instead of steps.")
flags.DEFINE_enum("optimizer", None, OPTIMIZERS, "Optimizer" + _from_preset + ".")
flags.DEFINE_float("learning_rate", None, "Peak learning rate" + _from_preset + ".")
flags.DEFINE_enum("lr_schedule", None, SCHEDULES, "Learning-rate schedule" + _from_preset + ".")
flags.DEFINE_integer("warmup_steps", None, "Linear warmup steps for the cosine schedule.")
flags.DEFINE_float("min_learning_rate", None, "Final learning rate of the cosine schedule.")
flags.DEFINE_float("weight_decay", None, "Decoupled weight decay" + _from_preset + ".")
flags.DEFINE_float("clip_norm", None, "Clip gradients to this global norm (0 disables).")
flags.DEFINE_float("dropout", None, "Dropout rate" + _from_preset + ".")
flags.DEFINE_integer("seed", None, "Random seed for weights, data order and dropout.")
flags.DEFINE_enum(
    "mixed_precision", None, PRECISIONS,
    "Compute precision (default auto: chosen for the model and machine, see zoo/precision.py).",
)
flags.DEFINE_bool(
    "jit_compile", None, "Compile the training step with XLA (default: chosen with the precision)."
)
flags.DEFINE_integer(
    "steps_per_execution", None,
    "Training steps per call into TensorFlow (default 10; logs and evaluations still land on "
    "their steps).",
)
flags.DEFINE_integer("eval_every", None, "Evaluate on the validation split every N steps.")
flags.DEFINE_integer(
    "eval_batches", None,
    "Cap on validation batches during training (default: the whole split); the final "
    "evaluation always reads the whole split.",
)
flags.DEFINE_integer("checkpoint_every", None, "Checkpoint every N steps (and at the end).")
flags.DEFINE_integer(
    "log_every", None,
    "Log the training loss every N steps: TensorBoard, the progress bar and, into a file or pipe, "
    "a line (default: TensorBoard and the bar every 10 steps, a line every ~5% of the run).",
)
flags.DEFINE_enum("strategy", None, STRATEGIES, "tf.distribute strategy (default: auto).")
flags.DEFINE_integer(
    "cpu_devices", 1, "Split the CPU into N logical devices (to try --strategy=mirrored on a CPU)."
)
flags.DEFINE_string(
    "export_dir", "saved_models", "Export the trained model here for TF Serving ('' skips)."
)
FLAGS = flags.FLAGS

# Flags that map one-to-one onto RunConfig fields.
_CONFIG_FLAGS = [f.name for f in dataclasses.fields(RunConfig) if f.name in FLAGS]


def explicit_settings() -> dict:
    """The RunConfig fields given on the command line."""
    return {name: FLAGS[name].value for name in _CONFIG_FLAGS if FLAGS[name].present}


def print_models() -> None:
    from zoo.registry import PRESETS

    width = max(len(name) for name in PRESETS)
    task_width = max(len(preset.task) for preset in PRESETS.values())
    print(f"{'model':<{width}} {'parameters':>12}  {'task':<{task_width}}  description")
    for name, preset in PRESETS.items():
        params = "(counts)" if preset.counted else f"{preset.parameters:,}"
        print(f"{name:<{width}} {params:>12}  {preset.task:<{task_width}}  "
              f"{preset.description}")
    print("(parameter counts at the preset's usual vocabulary size; --task picks another task)")


def print_tasks() -> None:
    print(f"{'task':<20}  what it learns")
    for name in TASKS:
        print(f"{name:<20}  {TASKS.entry(name).description}")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.list_models:
        print_models()
        return
    if FLAGS.list_tasks:
        print_tasks()
        return
    from zoo.training import choose_model_dir, resolve_config, train_and_export, with_options

    config = resolve_config(explicit_settings(), FLAGS.config)  # checked before TensorFlow
    cli.start_tensorflow()
    if FLAGS.cpu_devices > 1:
        from zoo.distribute import split_cpu

        split_cpu(FLAGS.cpu_devices)
    from zoo.runs import RunSpec

    spec = RunSpec.of(with_options(config, list(FLAGS.set)))
    train_and_export(spec, choose_model_dir(spec.config, FLAGS.model_dir, FLAGS.fresh),
                     FLAGS.export_dir)
    # Every file is written and closed: end now, so that the `Time:` line, the last one, is
    # the process's whole wall time (the interpreter's teardown takes a second or more).
    exit_now()


if __name__ == "__main__":
    cli.run(main, prog="zoo.train")
