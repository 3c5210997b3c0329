"""`python -m zoo.translate`: translate texts with a trained translation run or its export.

    python -m zoo.translate --model_dir=runs/<run> --text="Where is the station?"
    python -m zoo.translate --saved_model=saved_models/transformer_seq2seq_small/1 \\
        --text="I love you." --num_beams=1

Prints one translation per text. --model_dir rebuilds the run (`zoo.runs.load_run`) and decodes
in this process; --saved_model calls the export's `translate` signature, as a TF Serving client
would. --num_beams defaults to the run's setting (4: beam search; 1: greedy).
"""

from __future__ import annotations

from absl import flags

from zoo import cli
from zoo.config import ConfigError

flags.DEFINE_string("model_dir", None, "A translation run directory.")
flags.DEFINE_string("saved_model", None, "An exported version: saved_models/<name>/<version>.")
flags.DEFINE_multi_string("text", None, "A source text (repeatable).")
flags.DEFINE_integer("num_beams", None, "Beam width (default: the run's; 1 is greedy).")
flags.DEFINE_integer("max_new_tokens", None, "The longest translation (default: the model's).")
FLAGS = flags.FLAGS


def translate_with_run(model_dir: str, texts: list[str]) -> list[str]:
    from zoo.runs import load_run

    run = load_run(model_dir)
    if not hasattr(run.task, "translate"):
        raise ConfigError(f"{model_dir} is a {run.task.name} run, not a translation one")
    beams = FLAGS.num_beams or run.task.options.num_beams
    if not 1 <= beams <= 8:
        raise ConfigError(f"--num_beams must be in 1..8, got {beams}")
    too_long = [t for t in texts if len(run.task.tokenizer.encode(t)) > run.task.sequence_length]
    if too_long:
        raise ConfigError(f"--text: {too_long[0][:40]!r}... is longer than the model's "
                          f"{run.task.sequence_length} tokens")
    return run.task.translate(run.model, texts, num_beams=beams)


def translate_with_export(path: str, texts: list[str]) -> list[str]:
    import tensorflow as tf

    signatures = cli.load_export_signatures(path, "translate", "translation")
    batch = len(texts)
    try:
        if FLAGS.num_beams is None and FLAGS.max_new_tokens is None:
            outputs = signatures["serving_default"](texts=tf.constant(texts))
        else:
            outputs = signatures["translate"](
                texts=tf.constant(texts), num_beams=tf.fill([batch], FLAGS.num_beams or 4),
                max_new_tokens=tf.fill([batch], FLAGS.max_new_tokens or 0),  # 0: the model's
            )
    except tf.errors.InvalidArgumentError as e:  # the signature's own input checks
        raise ConfigError(cli.op_error_message(e)) from None
    return [t.decode("utf-8", "replace") for t in outputs["translations"].numpy()]


def main(argv: list[str]) -> None:
    texts = cli.texts_to_run(argv, FLAGS.model_dir, FLAGS.saved_model, FLAGS.text)
    if FLAGS.max_new_tokens is not None and FLAGS.max_new_tokens < 1:
        raise ConfigError("--max_new_tokens must be >= 1")
    if FLAGS.model_dir:
        out = translate_with_run(FLAGS.model_dir, texts)
    else:
        out = translate_with_export(FLAGS.saved_model, texts)
    for translation in out:
        print(translation, flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.translate")
