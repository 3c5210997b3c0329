"""The classifier's serving signatures: raw text in, labels and scores out.

    serving_default, predict   texts string [b]
                               -> scores float32 [b, C] (softmax), labels string [b],
                                  label_ids int32 [b]
    classify                   inputs: serialized tf.Example [b] with a bytes feature "text"
                               -> classes string [b, C], scores float32 [b, C]

`classify` carries TF Serving's classification method name (set by the export), so the REST
`:classify` and the gRPC `Classify` APIs work on it, on TF Serving and on `zoo.serve`; `classes`
lists every label in the same order for each example, `scores` their probabilities. An empty
batch or text fails with InvalidArgument; so does an Example without a "text" feature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from tasks.request_checks import ServingLimits, after, batch_checks, byte_checks

CLASSIFY_METHOD = "tensorflow/serving/classify"
TEXT_FEATURE = "text"
WARMUP_TEXT = "a fine piece of work"


def classification_signatures(model: Any, tokenize: Callable, labels: list[str],
                              limits: ServingLimits) -> dict:
    names = tf.constant(labels)

    def scores_of(texts):
        checks = [*batch_checks(texts, blank_ok=False), *byte_checks(texts, limits)]
        token_ids, mask = tokenize(after(checks, texts))  # cut to the model's length
        logits = model({"token_ids": token_ids, "padding_mask": mask}, training=False)
        return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string)])
    def predict(texts):
        scores = scores_of(texts)
        label_ids = tf.argmax(scores, axis=-1, output_type=tf.int32)
        return {"scores": scores, "labels": tf.gather(names, label_ids), "label_ids": label_ids}

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string)])
    def classify(inputs):
        features = tf.io.parse_example(
            inputs, {TEXT_FEATURE: tf.io.FixedLenFeature([], tf.string)}
        )
        scores = scores_of(features[TEXT_FEATURE])
        classes = tf.tile(names[None, :], [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    for function in (predict, classify):
        function.get_concrete_function()
    return {"serving_default": predict, "predict": predict, "classify": classify}


def example_of(text: str) -> bytes:
    """A serialized tf.Example holding `text`, as a `classify` client sends it."""
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")]))
    example = tf.train.Example(features=tf.train.Features(feature={TEXT_FEATURE: feature}))
    return example.SerializeToString()


def warmup_requests() -> list[tuple[str, dict[str, np.ndarray]]]:
    texts = np.array([WARMUP_TEXT.encode()], dtype=object)
    examples = np.array([example_of(WARMUP_TEXT)], dtype=object)
    return [
        ("serving_default", {"texts": texts}),
        ("predict", {"texts": texts}),
        ("classify", {"inputs": examples}),
    ]
