"""`python -m zoo.train_ngram`: count an n-gram language model (`ngram_lm`) and score it.

Training an n-gram model is counting, not gradient descent, so it has its own entry point beside
`zoo.train`: it builds the same task (word tokenizer on PTB by default), counts the training
split into an interpolated modified Kneser-Ney `NGramLM`, and scores every split the corpus has
with the task's own metrics. The run directory mirrors zoo.train's:

    config.json           RunConfig with model "ngram_lm" and model_overrides {"order": n}
    tokenizer/            the vocabulary learned on the training split
    model.keras           the counts (load with keras.saving.load_model, safe_mode works)
    metrics.jsonl         one record, zoo.train's schema (step 0, train loss, validation)
    eval_<split>.json     zoo.evaluate's schema, for validation and test
    summary.json          final figures, table sizes, discounts and a sample

Evaluation scores each split as one token stream, as the neural models are scored: every token
after the first is predicted from the previous n - 1 tokens, across line ends (`<eos>` is an
ordinary context token and counts are never reset). Mikolov et al.'s KN5 (SRILM, 141.2 on PTB
test) scored sentence by sentence instead: each sentence starts from `<s>` and its `</s>` is
predicted like our `<eos>`. Both predict the same ~82k tokens; ours gives 141.06 at order 5.

    python -m zoo.train_ngram --dataset=ptb --order=5 --model_dir=runs/kn5

Flags are defined only when run as a program, so `train()` can be imported next to zoo.train's.
"""

from __future__ import annotations

import math
import os
import time

from absl import flags

from tasks.catalog import TOKENIZER_KINDS
from zoo import cli
from zoo.config import ConfigError, RunConfig
from zoo.training import check_dataset

MODEL = "ngram_lm"
FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("dataset", "ptb", "Named dataset (ptb, wikitext2, tiny_shakespeare...).")
    flags.DEFINE_string("data", None, "A text file or folder to count instead of --dataset.")
    flags.DEFINE_enum("tokenizer", "word", list(TOKENIZER_KINDS), "Tokenizer.")
    flags.DEFINE_integer("vocab_size", None, "Vocabulary size for learned tokenizers.")
    flags.DEFINE_integer("order", 5, "n: each token is predicted from the previous n - 1.")
    flags.DEFINE_string(
        "model_dir", None, "Run directory (default: runs/ngram_lm-<dataset>-<timestamp>)."
    )
    flags.DEFINE_integer("sample_length", 50, "Tokens of sampled text in summary.json.")


def run_config(
    dataset: str, tokenizer: str, order: int, data: str | None = None,
    vocab_size: int | None = None, sample_length: int = 50,
) -> RunConfig:
    """The RunConfig an n-gram run records: no steps, no optimizer, just data and order."""
    return RunConfig(
        model=MODEL, dataset=dataset, data=data, tokenizer=tokenizer, vocab_size=vocab_size,
        model_overrides={"order": order}, task_options={"sample_length": sample_length},
        train_steps=None, epochs=None,
    )


def train(config: RunConfig, model_dir: str) -> dict:
    """Counts `config`'s training split into `model_dir` and returns the summary it writes."""
    import keras

    from tasks import run_files
    from tasks.data import DataError
    from zoo.models.ngram_lm import NGramLM
    from zoo.runs import RunSpec

    order = int(config.model_overrides.get("order", 5))
    if order < 1:
        raise ConfigError(f"order must be 1 or more, got {order}")
    if config.data and not os.path.exists(config.data):
        raise DataError(f"--data: no such file or folder: {config.data}")
    task = RunSpec.of(config).make_task(run_dir=model_dir)
    os.makedirs(model_dir, exist_ok=True)
    run_files.write_atomically(os.path.join(model_dir, run_files.CONFIG), config.to_json())
    task.save(model_dir)

    train_ids = task.tokens("train")
    name = config.data or config.dataset
    print(
        f"Counting {order}-grams of {name}: {len(train_ids):,} training tokens, "
        f"vocabulary {task.vocab_size:,}",
        flush=True,
    )
    began = time.time()
    model = NGramLM.fit(train_ids, task.vocab_size, order, name=MODEL)
    seconds = time.time() - began
    sizes = ", ".join(f"{s:,} {k}-grams" for k, s in enumerate(model.table_sizes, start=2))
    print(f"Counted in {seconds:.1f} s" + (f": {sizes}" if sizes else ""), flush=True)
    temporary = os.path.join(model_dir, ".counts.tmp.keras")  # Keras wants the suffix
    model.save(temporary)
    os.replace(temporary, os.path.join(model_dir, run_files.COUNTED_MODEL))

    train_loss = _mean_loss(model, task, "train")
    results = {}
    for split in ("validation", "test"):
        if split not in task.corpus.splits:
            continue
        results[split] = task.metrics_of(_mean_loss(model, task, split), split)
        print(f"{split}: " + ", ".join(f"{k} {v:.4f}" for k, v in results[split].items()))
        record = {"model_dir": model_dir, "split": split, "order": order, **results[split]}
        run_files.write_json(os.path.join(model_dir, run_files.evaluation_file(split)), record)
    total = time.time() - began
    record = {"step": 0, "train_loss": train_loss, "validation": results["validation"],
              "train_seconds": total}
    run_files.append_json_line(os.path.join(model_dir, run_files.METRICS), record)

    report = task.report(model)
    summary = {
        "model": MODEL,
        "order": order,
        "step": 0,
        "train_loss": train_loss,
        "train_perplexity": math.exp(train_loss),
        **results,
        "train_seconds": seconds,
        "total_seconds": total,
        "tokens_per_second": len(train_ids) / max(seconds, 1e-9),
        "table_sizes": model.table_sizes,
        "discounts": model.discounts,
        "keras_version": keras.__version__,
        **report,
    }
    run_files.write_json(os.path.join(model_dir, run_files.SUMMARY), summary)
    print(f"Run directory: {model_dir}", flush=True)
    if "sample" in report:
        print(f"Sample:\n{report['sample']}", flush=True)
    return summary


def _mean_loss(model, task, split: str) -> float:
    """The split's mean loss, read as one stream: every token after the first is predicted."""
    return float(-model.log_prob(task.tokens(split))[1:].mean())


def evaluate_counts(run, split: str) -> dict[str, float]:
    """Scores `split` of a loaded counted run (`zoo.runs.load_run`) the way `train` does."""
    return run.task.metrics_of(_mean_loss(run.model, run.task, split), split)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.sample_length < 0:
        raise ConfigError("sample_length must be 0 or more")
    config = run_config(
        FLAGS.dataset, FLAGS.tokenizer, FLAGS.order, data=FLAGS.data, vocab_size=FLAGS.vocab_size,
        sample_length=FLAGS.sample_length,
    )
    model_dir = FLAGS.model_dir
    if not model_dir:
        dataset = os.path.basename(os.path.normpath(config.data)) if config.data else config.dataset
        model_dir = os.path.join("runs", f"{MODEL}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    if not FLAGS.data:
        check_dataset(FLAGS.dataset, "causal_lm")
    cli.start_tensorflow()
    train(config, model_dir)


if __name__ == "__main__":
    define_flags()
    cli.run(main, prog="zoo.train_ngram")
