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
from zoo.text_to_text_cli import Decoding, decode_with_export, decode_with_run

flags.DEFINE_string("model_dir", None, "A translation run directory.")
flags.DEFINE_string("saved_model", None, "An exported version: saved_models/<name>/<version>.")
flags.DEFINE_multi_string("text", None, "A source text (repeatable).")
flags.DEFINE_integer("num_beams", None, "Beam width (default: the run's; 1 is greedy).")
flags.DEFINE_integer("max_new_tokens", None, "The longest translation (default: the model's).")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    texts = cli.texts_to_run(argv, FLAGS.model_dir, FLAGS.saved_model, FLAGS.text)
    decoding = Decoding(FLAGS.num_beams, FLAGS.max_new_tokens)
    decoding.check(max_beams=8)
    if FLAGS.model_dir:
        out = decode_with_run(FLAGS.model_dir, "translation", texts, decoding)
    else:
        out = decode_with_export(FLAGS.saved_model, "translation", "translate", "translations",
                                 texts, decoding)
    for translation in out:
        print(translation, flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.translate")
