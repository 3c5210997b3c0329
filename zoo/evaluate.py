"""`python -m zoo.evaluate --model_dir=runs/... --split=test`: score a trained run on a split.

Prints the task's metrics (for a language model: loss in nats per token, perplexity and bits per
character) and writes them to `<model_dir>/eval_<split>.json`. Reads only the run directory and
the split's data: no optimizer is built, and the training split is not read unless asked for.
"""

from __future__ import annotations

import json
import os

from absl import flags

from zoo import cli
from zoo.config import ConfigError

flags.DEFINE_string("model_dir", None, "Run directory written by zoo.train.", required=True)
flags.DEFINE_enum("split", "validation", ["train", "validation", "test"], "Split to evaluate.")
flags.DEFINE_integer("eval_batches", None, "Cap on the number of batches (default: all).")
FLAGS = flags.FLAGS


def evaluate_run(model_dir: str, split: str, max_batches: int | None = None) -> tuple[int, dict]:
    """(step, metrics) of the run's latest checkpoint on `split`."""
    from zoo.runs import load_run

    return evaluate_loaded(load_run(model_dir), split, max_batches)


def evaluate_loaded(run, split: str, max_batches: int | None = None) -> tuple[int, dict]:
    """(step, metrics) of a loaded run (`zoo.runs.load_run`) on `split`."""
    import tensorflow as tf

    from zoo.evaluation import Evaluator

    if run.preset.counted:
        from zoo.train_ngram import evaluate_counts

        return run.step, evaluate_counts(run, split)
    strategy = tf.distribute.get_strategy()
    batch = run.task.eval_batch_size(run.config.batch_size, strategy.num_replicas_in_sync)
    metrics = Evaluator(run.task, run.model, strategy).evaluate(split, batch, max_batches)
    metrics.update(run.task.extra_metrics(run.model, split))
    return run.step, metrics


def evaluate_and_record(run, split: str, max_batches: int | None = None) -> dict:
    """The loaded run's metrics on `split`, also written to <model_dir>/eval_<split>.json."""
    from tasks import run_files

    step, metrics = evaluate_loaded(run, split, max_batches)
    result = {"model_dir": run.model_dir, "step": step, "split": split, **metrics}
    run_files.write_json(os.path.join(run.model_dir, run_files.evaluation_file(split)), result)
    return metrics


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.eval_batches is not None and FLAGS.eval_batches < 1:
        raise ConfigError(f"--eval_batches must be >= 1, got {FLAGS.eval_batches}")
    if not os.path.isdir(FLAGS.model_dir):
        raise ConfigError(f"--model_dir: no such run directory: {FLAGS.model_dir}")
    cli.start_tensorflow()
    from zoo.runs import load_run

    run = load_run(FLAGS.model_dir)
    metrics = evaluate_and_record(run, FLAGS.split, FLAGS.eval_batches)
    config = run.config
    print(f"{config.model} on {config.data or config.dataset}/{FLAGS.split} at step {run.step}:")
    for name, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else json.dumps(value)
        print(f"  {name:<14} {shown}")


if __name__ == "__main__":
    cli.run(main, prog="zoo.evaluate")
