"""The translation task's serving signatures: source text in, translations out.

    serving_default   texts string [b] -> translations string [b], scores float32 [b]
    translate         texts string [b], num_beams int32 [b], max_new_tokens int32 [b]
                      -> as serving_default

Sources are tokenized, encoded once, and decoded with beam search (the export's default width
for serving_default) against the encoder's keys and values, computed once per request; `scores`
is the sum of the translation's token log-probabilities. `num_beams` must be the same for the
whole batch (it picks one of MAX_BEAMS decoding graphs), `max_new_tokens` may differ per text
(0: the longest the model allows).
An empty batch or text, or a source longer than the model reads, fails with InvalidArgument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tasks.request_checks import ServingLimits, after, batch_checks, limit_checks

MAX_BEAMS = 8  # `translate` holds one decoding graph per beam width, 1..MAX_BEAMS
WARMUP_TEXT = "Where is the station?"
_STRINGS = tf.TensorSpec([None], tf.string)
_INTS = tf.TensorSpec([None], tf.int32)


def translation_signatures(task: Any, model: Any, limits: ServingLimits) -> dict[str, Any]:
    length = task.sequence_length

    def generation_check(max_new_tokens, beams):
        most = limits.max_generate_tokens
        return tf.debugging.assert_less_equal(
            tf.reduce_sum(tf.cast(max_new_tokens, tf.int64)) * tf.cast(beams, tf.int64),
            tf.constant(most, tf.int64),
            message=f"at most {most} new tokens per request (all texts and beams together)")

    def checked(texts):
        tokens = task.tokenizer.tf_tokenize(after(batch_checks(texts, blank_ok=False), texts))
        too_long = tf.debugging.assert_less_equal(
            tokens.row_lengths(), tf.constant(length, tf.int64),
            message=f"texts: a source is longer than the model's {length} tokens; split it")
        return after([too_long, *limit_checks(texts, tokens.row_lengths(), limits)], texts)

    @tf.function(input_signature=[_STRINGS])
    def serving_default(texts):
        texts = checked(texts)
        beams = task.options.num_beams
        most = tf.fill(tf.shape(texts), task.max_new_tokens)
        with tf.control_dependencies([generation_check(most, beams)]):
            return task.translate_texts(model, tf.identity(texts), num_beams=beams)

    @tf.function(input_signature=[_STRINGS, _INTS, _INTS])
    def translate(texts, num_beams, max_new_tokens):
        batch = tf.shape(texts)[0]
        checks = [
            tf.debugging.assert_equal(tf.shape(num_beams)[0], batch,
                                      message="num_beams needs one value per text"),
            tf.debugging.assert_equal(tf.shape(max_new_tokens)[0], batch,
                                      message="max_new_tokens needs one value per text"),
            tf.debugging.assert_equal(num_beams, num_beams[0],
                                      message="num_beams must be the same for every text"),
            tf.debugging.assert_greater_equal(num_beams, 1, message="num_beams must be >= 1"),
            tf.debugging.assert_less_equal(num_beams, MAX_BEAMS,
                                           message=f"num_beams must be <= {MAX_BEAMS}"),
            tf.debugging.assert_non_negative(max_new_tokens,
                                             message="max_new_tokens must be >= 0 (0: the most)"),
            tf.debugging.assert_less_equal(max_new_tokens, length - 1,
                                           message=f"max_new_tokens must be <= {length - 1}"),
        ]
        with tf.control_dependencies(checks):
            texts = checked(texts)
            width = tf.identity(num_beams[0])
            max_new_tokens = tf.where(max_new_tokens == 0, task.max_new_tokens, max_new_tokens)
        with tf.control_dependencies([generation_check(max_new_tokens, width)]):
            width = tf.identity(width)

        def beams(count):
            def run():
                out = task.translate_texts(model, texts, num_beams=count,
                                           max_new_tokens=max_new_tokens)
                return out["translations"], out["scores"]

            return run

        translations, scores = tf.switch_case(width - 1, [beams(k) for k in
                                                          range(1, MAX_BEAMS + 1)])
        return {"translations": translations, "scores": scores}

    for function in (serving_default, translate):
        function.get_concrete_function()
    return {"serving_default": serving_default, "translate": translate}


def warmup_requests(num_beams: int) -> list[tuple[str, dict[str, np.ndarray]]]:
    texts = np.array([WARMUP_TEXT.encode()], dtype=object)
    return [
        ("serving_default", {"texts": texts}),
        ("translate", {"texts": texts, "num_beams": np.array([num_beams], np.int32),
                       "max_new_tokens": np.array([0], np.int32)}),  # 0: the most
    ]
