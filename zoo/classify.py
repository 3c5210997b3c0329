"""`python -m zoo.classify`: label texts with a trained classifier run or its export.

    python -m zoo.classify --model_dir=runs/<run> --text="a gorgeous, witty film"
    python -m zoo.classify --saved_model=saved_models/bert_tiny/1 --text=a --text=b

Prints each text's label and the probability of every class. --model_dir rebuilds the run
(`zoo.runs.load_run`); --saved_model calls the export's `predict` signature, as a TF Serving
client would, with only TensorFlow loaded.
"""

from __future__ import annotations

import numpy as np
from absl import flags

from zoo import cli
from zoo.config import ConfigError

flags.DEFINE_string("model_dir", None, "A text_classification run directory.")
flags.DEFINE_string("saved_model", None, "An exported version: saved_models/<name>/<version>.")
flags.DEFINE_multi_string("text", None, "A text to classify (repeatable).")
FLAGS = flags.FLAGS


def classify_with_run(model_dir: str, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """(class names, probabilities [texts, classes]) from a run directory."""
    import tensorflow as tf

    from zoo.runs import load_run

    run = load_run(model_dir)
    if not hasattr(run.task, "labels"):
        raise ConfigError(f"{model_dir} is a {run.task.name} run, not a text_classification one")
    token_ids, mask = run.task.tokenize(tf.constant(texts))
    logits = run.model({"token_ids": token_ids, "padding_mask": mask}, training=False)
    return run.task.labels, tf.nn.softmax(logits, axis=-1).numpy()


def classify_with_export(path: str, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """(class names, probabilities) from the export's `classify` and `predict` signatures."""
    import tensorflow as tf

    from tasks.text_classification.serving import example_of

    signatures = cli.load_export_signatures(path, "classify", "classifier")
    examples = tf.constant([example_of(text) for text in texts])
    try:
        outputs = signatures["classify"](inputs=examples)
    except tf.errors.InvalidArgumentError as e:  # the signature's own input checks
        raise ConfigError(cli.op_error_message(e)) from None
    classes = [c.decode("utf-8") for c in outputs["classes"].numpy()[0]]
    return classes, outputs["scores"].numpy()


def main(argv: list[str]) -> None:
    texts = cli.texts_to_run(argv, FLAGS.model_dir, FLAGS.saved_model, FLAGS.text)
    if FLAGS.model_dir:
        labels, scores = classify_with_run(FLAGS.model_dir, texts)
    else:
        labels, scores = classify_with_export(FLAGS.saved_model, texts)
    for text, row in zip(texts, scores):
        best = int(np.argmax(row))
        shown = "  ".join(f"{label} {p:.3f}" for label, p in zip(labels, row))
        print(f"{labels[best]}\t{text}\t({shown})", flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.classify")
