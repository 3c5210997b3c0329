"""What `zoo.translate` and `zoo.summarize` share: decode texts with a run or with its export.

A run directory is rebuilt (`zoo.runs.load_run`) and decoded in this process; an export is called
through its signatures, as a TF Serving client would: `serving_default` when no decoding setting
is given, else the task's full signature (`translate`, `summarize`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from zoo import cli
from zoo.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Decoding:
    """The decoding flags of a verb; None: the run's or the export's own setting."""

    num_beams: int | None = None
    max_new_tokens: int | None = None
    no_repeat_ngram_size: int | None = None

    def check(self, max_beams: int) -> None:
        if self.num_beams is not None and not 1 <= self.num_beams <= max_beams:
            raise ConfigError(f"--num_beams must be in 1..{max_beams}, got {self.num_beams}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError("--max_new_tokens must be >= 1")
        if self.no_repeat_ngram_size is not None and self.no_repeat_ngram_size < 0:
            raise ConfigError("--no_repeat_ngram_size must be >= 0")


def decode_with_run(model_dir: str, task_name: str, texts: list[str],
                    decoding: Decoding) -> list[str]:
    """`texts` decoded by the run in `model_dir`, which must be a `task_name` run."""
    from zoo.runs import load_run

    run = load_run(model_dir)
    task = run.task
    if task.name != task_name:
        raise ConfigError(f"{model_dir} is a {task.name} run, not a {task_name} one")
    decoding.check(task.max_beams)
    if task.refuse_long_sources:
        too_long = [t for t in texts if len(task.tokenizer.encode(t)) > task.sequence_length]
        if too_long:
            raise ConfigError(f"--text: {too_long[0][:40]!r}... is longer than the model's "
                              f"{task.sequence_length} tokens")
    settings: dict[str, Any] = {}
    if decoding.max_new_tokens is not None:
        settings["max_new_tokens"] = min(decoding.max_new_tokens, task.new_tokens_cap)
    if decoding.no_repeat_ngram_size is not None:
        settings["no_repeat_ngram_size"] = decoding.no_repeat_ngram_size
    beams = decoding.num_beams or task.options.num_beams
    return task.decode(model=run.model, texts=texts, num_beams=beams, **settings)


def decode_with_export(path: str, task_name: str, verb: str, output: str, texts: list[str],
                       decoding: Decoding) -> list[str]:
    """`texts` decoded by the `task_name` export at `path` through its `serving_default` or
    `verb` signature; a decoding setting not given is the export's default, except
    no_repeat_ngram_size, which is 0 in `verb` unless given."""
    import tensorflow as tf

    signatures = cli.load_export_signatures(path, verb, task_name)
    batch = len(texts)
    inputs = {"texts": tf.constant(texts)}
    name = "serving_default"
    if decoding != Decoding():
        name = verb
        takes = signatures[verb].structured_input_signature[1]
        inputs["num_beams"] = tf.fill([batch], decoding.num_beams or 4)
        inputs["max_new_tokens"] = tf.fill([batch], decoding.max_new_tokens or 0)  # 0: default
        if "no_repeat_ngram_size" in takes:
            inputs["no_repeat_ngram_size"] = tf.fill([batch], decoding.no_repeat_ngram_size or 0)
        elif decoding.no_repeat_ngram_size:
            raise ConfigError(f"{path}: this export has no no_repeat_ngram_size setting")
    try:
        outputs = signatures[name](**inputs)
    except tf.errors.InvalidArgumentError as e:  # the signature's own input checks
        raise ConfigError(cli.op_error_message(e)) from None
    return [t.decode("utf-8", "replace") for t in outputs[output].numpy()]
