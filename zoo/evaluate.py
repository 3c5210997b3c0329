"""`python -m zoo.evaluate --model_dir=runs/... --split=test`: score a trained run on a split.

Prints the loss in nats per token, the perplexity and bits per character, and writes them to
`<model_dir>/eval_<split>.json`.
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


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    import dataclasses

    import tensorflow as tf

    from zoo.registry import COUNT_BASED
    from zoo.trainer import Trainer, load_run_config

    config = load_run_config(FLAGS.model_dir)
    if config.model in COUNT_BASED:
        from zoo.train_ngram import evaluate as evaluate_counts

        step, metrics = 0, evaluate_counts(config, FLAGS.model_dir, FLAGS.split)
    else:
        config = dataclasses.replace(config, eval_batches=FLAGS.eval_batches, strategy="default")
        trainer = Trainer(config, FLAGS.model_dir, strategy=tf.distribute.get_strategy())
        step = trainer.restore()
        if step == 0:
            raise ConfigError(f"{FLAGS.model_dir} has no checkpoint to evaluate")
        metrics = trainer.evaluate(FLAGS.split)
    result = {"model_dir": FLAGS.model_dir, "step": step, "split": FLAGS.split, **metrics}
    print(f"{config.model} on {config.data or config.dataset}/{FLAGS.split} at step {step}:")
    for name, value in metrics.items():
        print(f"  {name:<14} {value:.4f}")
    with open(os.path.join(FLAGS.model_dir, f"eval_{FLAGS.split}.json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    cli.run(main, prog="zoo.evaluate")
