"""`python -m zoo.generate`: continue prompts with a trained run or an exported SavedModel.

    python -m zoo.generate --model_dir=runs/<run> --prompt="ROMEO:" --max_new_tokens=200
    python -m zoo.generate --model_dir=runs/<run> --prompt=a --prompt=b --num_samples=3 \\
        --temperature=0.8 --top_k=40 --stop=$'\\n\\n'
    python -m zoo.generate --saved_model=saved_models/<name>/<version> --prompt="ROMEO:"
    python -m zoo.generate --model_dir=runs/<run> --jit_compile --max_new_tokens=1000

--model_dir rebuilds the run from its config.json, tokenizer/ and latest checkpoint
(`zoo.runs.load_run`) and decodes with `tasks.decoding.generate`; --jit_compile compiles its loop
with XLA (faster for long generations after a few seconds of compiling; samples differ from the
plain loop's). --saved_model calls the export's `generate` signature, as a TF Serving client
would; beams, n-gram bans and stop tokens are fixed at export time there. Sample i of a prompt
uses seed --seed + i. Each sample prints as its prompt and its continuation; with several, a
`--- prompt p, sample i ---` line comes first. A --stop text ends a continuation after its first
occurrence; one that is a single token also stops decoding there.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from absl import flags

from tasks.decoding import SamplingConfig
from zoo import cli
from zoo.config import ConfigError
from zoo.sampling_flags import define_sampling_flags, sampling_config_from_flags

flags.DEFINE_string("model_dir", None, "Run directory written by zoo.train.")
flags.DEFINE_string("saved_model", None, "An exported version: saved_models/<name>/<version>.")
flags.DEFINE_multi_string("prompt", None, "Text to continue (repeatable; default: a newline).")
flags.DEFINE_integer("num_samples", 1, "Samples per prompt (sample i uses seed --seed + i).")
define_sampling_flags()
flags.DEFINE_multi_string("stop", [], "Text that ends a continuation (repeatable).")
flags.DEFINE_bool(
    "jit_compile", False, "--model_dir only: compile the decoding loop with XLA (not the export)."
)
FLAGS = flags.FLAGS


def sampling_config(stop_token_ids: tuple[int, ...] = ()) -> SamplingConfig:
    """The sampling flags, checked (a bad value is a ConfigError naming it)."""
    if FLAGS.num_samples < 1:
        raise ConfigError(f"--num_samples must be >= 1, got {FLAGS.num_samples}")
    return sampling_config_from_flags(stop_token_ids)


def cut_at_stop(text: str, stops: list[str]) -> str:
    """`text` up to and including the earliest stop text in it."""
    ends = [text.find(stop) + len(stop) for stop in stops if stop and stop in text]
    return text[: min(ends)] if ends else text


def generate_from_run(model_dir: str, prompts: list[str]) -> list[str]:
    """Continuations of `prompts` (already repeated per sample), decoded with the run's model."""
    from tasks.decoding import generate
    from zoo.runs import load_run

    run = load_run(model_dir)
    model, tokenizer = run.model, run.task.tokenizer
    if not hasattr(model, "decode"):
        raise ConfigError(f"{model_dir} holds a {run.task.name} model, which generates no text")
    encoded = [np.asarray(tokenizer.encode(p), np.int32) for p in prompts]
    if any(len(ids) == 0 for ids in encoded):
        raise ConfigError("--prompt: every prompt must encode to at least one token")
    stop_ids = []
    for text in FLAGS.stop:
        ids = tokenizer.encode(text)
        if len(ids) == 1:
            stop_ids.append(int(ids[0]))
    sampling = sampling_config(tuple(stop_ids))
    lengths = np.array([len(ids) for ids in encoded], np.int32)
    padded = np.zeros((len(encoded), lengths.max()), np.int32)
    for row, ids in zip(padded, encoded):
        row[: len(ids)] = ids
    settings = dataclasses.asdict(sampling)
    settings["seed"] = seeds(len(prompts))
    new_ids, new_lengths = generate(
        model, padded, lengths, **settings, jit_compile=FLAGS.jit_compile
    )
    rows = zip(new_ids.numpy(), new_lengths.numpy())
    return [tokenizer.decode(row[:n].tolist()) for row, n in rows]


def generate_from_saved_model(path: str, prompts: list[str]) -> list[str]:
    """Continuations from the export's `generate` signature, as a serving client gets them."""
    import tensorflow as tf

    for name in ("num_beams", "no_repeat_ngram_size"):
        if FLAGS[name].present:
            raise ConfigError(f"--{name} is fixed when a model is exported; drop it here")
    if FLAGS.jit_compile:
        raise ConfigError("--jit_compile applies to --model_dir; an export always runs without XLA")
    sampling = sampling_config()
    signature = cli.load_export_signatures(path, "generate")["generate"]
    batch = len(prompts)
    try:
        outputs = signature(
            prompts=tf.constant(prompts),
            max_new_tokens=tf.fill([batch], sampling.max_new_tokens),
            temperature=tf.fill([batch], float(sampling.temperature)),
            top_k=tf.fill([batch], sampling.top_k),
            top_p=tf.fill([batch], float(sampling.top_p)),
            seed=tf.constant(seeds(batch)),
        )
    except tf.errors.InvalidArgumentError as e:  # the signature's own input checks
        raise ConfigError(cli.op_error_message(e)) from None
    return [text.decode("utf-8", "replace") for text in outputs["text"].numpy()]


def seeds(batch: int) -> np.ndarray:
    """Sample i of each prompt draws with seed --seed + i."""
    return (FLAGS.seed + np.arange(batch) % FLAGS.num_samples).astype(np.int32)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
        raise ConfigError("give exactly one of --model_dir and --saved_model")
    sampling_config()  # bad flags fail before anything loads
    prompts = FLAGS.prompt or ["\n"]
    repeated = [p for p in prompts for _ in range(FLAGS.num_samples)]
    if FLAGS.model_dir:
        if not os.path.isdir(FLAGS.model_dir):
            raise ConfigError(f"--model_dir: no such run directory: {FLAGS.model_dir}")
        texts = generate_from_run(FLAGS.model_dir, repeated)
    else:
        texts = generate_from_saved_model(FLAGS.saved_model, repeated)
    for i, (prompt, text) in enumerate(zip(repeated, texts)):
        if len(repeated) > 1:
            prompt_number, sample = divmod(i, FLAGS.num_samples)
            print(f"--- prompt {prompt_number + 1}, sample {sample + 1} ---")
        print(prompt + cut_at_stop(text, FLAGS.stop), flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.generate")
