"""`python -m zoo.classify`: label texts with a trained classifier run or its export.

    python -m zoo.classify --model_dir=runs/<run> --text="a gorgeous, witty film"
    python -m zoo.classify --saved_model=saved_models/bert_tiny/1 --text=a --text=b

Prints each text's label and the probability of every class. A thin wrapper of
`zoo.load(path).classify(texts)`: --model_dir rebuilds the run; --saved_model calls the export's
`classify` signature, as a TF Serving client would, with only TensorFlow loaded.
"""

from __future__ import annotations

import numpy as np
from absl import flags

from zoo import cli

flags.DEFINE_string("model_dir", None, "A text_classification run directory.")
flags.DEFINE_string("saved_model", None, "An exported version: saved_models/<name>/<version>.")
flags.DEFINE_multi_string("text", None, "A text to classify (repeatable).")
FLAGS = flags.FLAGS


def classify(path: str, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """(class names, probabilities [texts, classes]) from the run or export at `path`
    (`zoo.pipelines.TextClassifier`)."""
    from zoo.pipelines import load

    return load(path, task="text_classification").probabilities(texts)


def main(argv: list[str]) -> None:
    texts = cli.texts_to_run(argv, FLAGS.model_dir, FLAGS.saved_model, FLAGS.text)
    path = cli.source_path(FLAGS.model_dir, FLAGS.saved_model)
    cli.start_tensorflow()
    labels, scores = classify(path, texts)
    for text, row in zip(texts, scores):
        best = int(np.argmax(row))
        shown = "  ".join(f"{label} {p:.3f}" for label, p in zip(labels, row))
        print(f"{labels[best]}\t{text}\t({shown})", flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.classify")
