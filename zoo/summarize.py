"""`python -m zoo.summarize`: summarize texts with a trained summarization run or its export.

    python -m zoo.summarize --model_dir=runs/<run> --file=email.txt
    python -m zoo.summarize --saved_model=saved_models/transformer_summarizer_small/1 \\
        --text="Please send me the signed contract by Friday. Thanks, John" --num_beams=1

Prints one summary per text (`zoo.load(path).summarize(texts)`), in order: the `--text`s,
then the `--file`s (each file is one text, an email say). --model_dir rebuilds the run and
decodes in this process; --saved_model calls the export as a TF Serving client would
(`serving_default`, or `summarize` when a decoding flag is given). Sources longer than the
model reads are cut to their first tokens.
"""

from __future__ import annotations

from absl import flags

from zoo import cli
from zoo.config import ConfigError

flags.DEFINE_string("model_dir", None, "A summarization run directory.")
flags.DEFINE_string("saved_model", None, "An exported version: saved_models/<name>/<version>.")
flags.DEFINE_multi_string("text", None, "A text to summarize (repeatable).")
flags.DEFINE_multi_string("file", None, "A UTF-8 file holding one text (repeatable).")
flags.DEFINE_integer("num_beams", None, "Beam width, 1..4 (default: the run's; 1 is greedy).")
flags.DEFINE_integer("max_new_tokens", None, "The longest summary (default: the model's).")
flags.DEFINE_integer("no_repeat_ngram_size", None,
                     "n > 0: no n-gram twice in a summary (default: the run's; with "
                     "--saved_model and another decoding flag, 0).")
FLAGS = flags.FLAGS


def read_texts(paths: list[str]) -> list[str]:
    """Each file's whole text; unreadable, empty or non-UTF-8 files are a one-line error."""
    texts = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                texts.append(f.read())
        except UnicodeDecodeError:
            raise ConfigError(f"--file: {path} is not UTF-8 text") from None
        except OSError as e:
            raise ConfigError(f"--file: cannot read {path}: {e.strerror}") from None
        if not texts[-1].strip():
            raise ConfigError(f"--file: {path} is empty")
    return texts


def main(argv: list[str]) -> None:
    files = read_texts(FLAGS.file or [])
    given = (FLAGS.text or []) + files
    texts = cli.texts_to_run(argv, FLAGS.model_dir, FLAGS.saved_model, given or None)
    from zoo.pipelines import Summarizer, load

    settings = dict(num_beams=FLAGS.num_beams, max_new_tokens=FLAGS.max_new_tokens,
                    no_repeat_ngram_size=FLAGS.no_repeat_ngram_size)
    Summarizer.check_settings(**settings)  # before anything loads
    path = cli.source_path(FLAGS.model_dir, FLAGS.saved_model)
    cli.start_tensorflow(optimize_graphs=False)  # a few texts: see start_tensorflow
    out = load(path, task="summarization").summarize(texts, **settings)
    for summary in out:
        print(summary.replace("\n", " "), flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.summarize")
