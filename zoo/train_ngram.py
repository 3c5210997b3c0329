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

import json
import math
import os
import time

from absl import flags

from zoo import cli
from zoo.config import ConfigError, RunConfig

MODEL = "ngram_lm"
MODEL_FILE = "model.keras"
FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("dataset", "ptb", "Named dataset (ptb, wikitext2, tiny_shakespeare...).")
    flags.DEFINE_string("data", None, "A text file or folder to count instead of --dataset.")
    flags.DEFINE_string("tokenizer", "word", "Tokenizer: char, byte, word, wordpiece...")
    flags.DEFINE_integer("vocab_size", None, "Vocabulary size for learned tokenizers.")
    flags.DEFINE_integer("order", 5, "n: each token is predicted from the previous n - 1.")
    flags.DEFINE_string(
        "model_dir", None, "Run directory (default: runs/ngram_lm-<dataset>-<timestamp>)."
    )
    flags.DEFINE_integer("sample_length", 50, "Tokens of sampled text in summary.json.")


def run_config(
    dataset: str, tokenizer: str, order: int, data: str | None = None,
    vocab_size: int | None = None,
) -> RunConfig:
    """The RunConfig an n-gram run records: no steps, no optimizer, just data and order."""
    return RunConfig(
        model=MODEL, dataset=dataset, data=data, tokenizer=tokenizer, vocab_size=vocab_size,
        model_overrides={"order": order}, train_steps=None, epochs=None,
    )


def train(config: RunConfig, model_dir: str, sample_length: int = 50) -> dict:
    """Counts `config`'s training split into `model_dir` and returns the summary it writes."""
    import keras
    import numpy as np

    from tasks import LanguageModelingTask
    from tasks.data import DataError
    from zoo.decoding import SamplingConfig, generate_tokens
    from zoo.models.ngram_lm import NGramLM
    from zoo.trainer import save_run_files

    order = int(config.model_overrides.get("order", 5))
    if order < 1:
        raise ConfigError(f"order must be 1 or more, got {order}")
    if config.data and not os.path.exists(config.data):
        raise DataError(f"--data: no such file or folder: {config.data}")
    task = LanguageModelingTask.from_names(
        config.data or config.dataset,
        config.tokenizer,
        sequence_length=1,  # windows are not used: every split is scored as one stream
        vocab_size=config.vocab_size,
        tokenizer_dir=os.path.join(model_dir, "tokenizer"),
    )
    save_run_files(model_dir, config, task)

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
    model.save(os.path.join(model_dir, MODEL_FILE))

    def mean_loss(split: str) -> float:
        return float(-model.log_prob(task.tokens(split))[1:].mean())

    train_loss = mean_loss("train")
    results = {}
    for split in ("validation", "test"):
        if split not in task.corpus.splits:
            continue
        results[split] = task.metrics(mean_loss(split), split)
        print(f"{split}: " + ", ".join(f"{k} {v:.4f}" for k, v in results[split].items()))
        record = {"model_dir": model_dir, "split": split, "order": order, **results[split]}
        with open(os.path.join(model_dir, f"eval_{split}.json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
    total = time.time() - began
    with open(os.path.join(model_dir, "metrics.jsonl"), "a", encoding="utf-8") as f:
        record = {"step": 0, "train_loss": train_loss, "validation": results["validation"],
                  "seconds": total}
        f.write(json.dumps(record) + "\n")

    prompt = task.tokenizer.encode("\n")
    prompt = prompt if len(prompt) else np.zeros([1], np.int32)
    sampled = generate_tokens(model, prompt[None, :], sample_length, SamplingConfig())
    sample = task.tokenizer.decode(sampled[0])
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
        "sample": sample,
    }
    with open(os.path.join(model_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    print(f"Run directory: {model_dir}\nSample:\n{sample}", flush=True)
    return summary


def evaluate(config: RunConfig, model_dir: str, split: str) -> dict[str, float]:
    """Scores `split` of a counted run as one stream, the way `train` does."""
    import keras

    from tasks import LanguageModelingTask

    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise ConfigError(f"{model_dir} has no {MODEL_FILE} to evaluate")
    model = keras.saving.load_model(path)
    task = LanguageModelingTask.from_names(
        config.data or config.dataset,
        config.tokenizer,
        sequence_length=1,
        vocab_size=config.vocab_size,
        tokenizer_dir=os.path.join(model_dir, "tokenizer"),
    )
    return task.metrics(float(-model.log_prob(task.tokens(split))[1:].mean()), split)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = run_config(
        FLAGS.dataset, FLAGS.tokenizer, FLAGS.order, data=FLAGS.data, vocab_size=FLAGS.vocab_size
    )
    if FLAGS.sample_length < 0:
        raise ConfigError("sample_length must be 0 or more")
    model_dir = FLAGS.model_dir
    if not model_dir:
        dataset = os.path.basename(os.path.normpath(config.data)) if config.data else config.dataset
        model_dir = os.path.join("runs", f"{MODEL}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    train(config, model_dir, sample_length=FLAGS.sample_length)


if __name__ == "__main__":
    define_flags()
    cli.run(main, prog="zoo.train_ngram")
