"""The toy task's signature: words in, whether each starts with a vowel out."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tasks.request_checks import after, batch_checks, byte_checks


def signatures(model, tokenize, limits) -> dict:
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def starts_with_vowel(texts):
        checks = [*batch_checks(texts, blank_ok=False),
                  *byte_checks(texts, limits)]
        logits = model(tokenize(after(checks, texts)), training=False)
        return {"vowel": tf.argmax(logits, -1, output_type=tf.int32),
                "scores": tf.nn.softmax(logits)}

    starts_with_vowel.get_concrete_function()
    return {"serving_default": starts_with_vowel}


def warmup_requests() -> list[tuple[str, dict[str, np.ndarray]]]:
    return [("serving_default", {"texts": np.array([b"apple", b"pear"], dtype=object)})]
