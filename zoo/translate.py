"""`python -m zoo.translate`: translate texts with a trained translation run or its export.

    python -m zoo.translate --model_dir=runs/<run> --text="Where is the station?"
    python -m zoo.translate --saved_model=saved_models/transformer_seq2seq_small/1 \\
        --text="I love you." --num_beams=1

Prints one translation per text: a thin wrapper of `zoo.load(path).translate(texts)`.
--model_dir rebuilds the run and decodes in this process; --saved_model calls the export's
`translate` signature, as a TF Serving client would. --num_beams defaults to the run's setting
(4: beam search; 1: greedy).
"""

from __future__ import annotations

from absl import flags

from zoo import cli

flags.DEFINE_string("model_dir", None, "A translation run directory.")
flags.DEFINE_string("saved_model", None, "An exported version: saved_models/<name>/<version>.")
flags.DEFINE_multi_string("text", None, "A source text (repeatable).")
flags.DEFINE_integer("num_beams", None, "Beam width (default: the run's; 1 is greedy).")
flags.DEFINE_integer("max_new_tokens", None, "The longest translation (default: the model's).")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    texts = cli.texts_to_run(argv, FLAGS.model_dir, FLAGS.saved_model, FLAGS.text)
    from zoo.pipelines import Translator, load

    settings = dict(num_beams=FLAGS.num_beams, max_new_tokens=FLAGS.max_new_tokens)
    Translator.check_settings(**settings)  # before anything loads
    path = cli.source_path(FLAGS.model_dir, FLAGS.saved_model)
    cli.start_tensorflow(optimize_graphs=False)  # a few texts: see start_tensorflow
    out = load(path, task="translation").translate(texts, **settings)
    for translation in out:
        print(translation, flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.translate")
