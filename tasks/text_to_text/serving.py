"""A text-to-text task's serving signatures: source text in, decoded text out.

    serving_default   texts string [b] -> <outputs> string [b], scores float32 [b]
    <verb>            texts string [b], num_beams int32 [b], max_new_tokens int32 [b]
                      (and no_repeat_ngram_size int32 [b] where the task offers a choice)
                      -> as serving_default

`<verb>` and `<outputs>` are the task's ("translate"/"translations", "summarize"/"summaries").
Sources are tokenized, encoded once, and decoded with beam search (the export's default width
for serving_default); `scores` is the sum of the output's token log-probabilities. `num_beams`
and `no_repeat_ngram_size` must be the same for the whole batch, `max_new_tokens` may differ
per text (0: the export's default).
One decoding graph serves every width and n-gram size (tensors of the request, not a graph
for each). An empty batch or text fails with InvalidArgument, and so does a source longer than
the model reads, unless the task cuts long sources (summarization reads an email's first
tokens).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tasks.request_checks import ServingLimits, after, batch_checks, byte_checks, token_checks

_STRINGS = tf.TensorSpec([None], tf.string)
_INTS = tf.TensorSpec([None], tf.int32)


def text_to_text_signatures(task: Any, model: Any, limits: ServingLimits) -> dict[str, Any]:
    length, cap = task.sequence_length, task.new_tokens_cap

    def generation_check(max_new_tokens, beams):
        most = limits.max_generate_tokens
        return tf.debugging.assert_less_equal(
            tf.reduce_sum(tf.cast(max_new_tokens, tf.int64)) * tf.cast(beams, tf.int64),
            tf.constant(most, tf.int64),
            message=f"at most {most} new tokens per request (all texts and beams together)")

    def checked(texts):
        first = [*batch_checks(texts, blank_ok=False), *byte_checks(
            texts, limits, text_tokens=length if task.refuse_long_sources else None)]
        tokens = task.tokenizer.tf_tokenize(after(first, texts))
        checks = token_checks(tokens.row_lengths(), limits)
        if task.refuse_long_sources:
            checks.append(tf.debugging.assert_less_equal(
                tokens.row_lengths(), tf.constant(length, tf.int64),
                message=f"texts: a source is longer than the model's {length} tokens; split it"))
        return after(checks, texts)

    @tf.function(autograph=False, input_signature=[_STRINGS])
    def serving_default(texts):
        texts = checked(texts)
        beams = task.options.num_beams
        most = tf.fill(tf.shape(texts), task.max_new_tokens)
        with tf.control_dependencies([generation_check(most, beams)]):
            return task.decode_texts(model, tf.identity(texts), num_beams=beams)

    def same_for_batch(values, name, low, high, texts):
        return [
            tf.debugging.assert_equal(tf.shape(values)[0], tf.shape(texts)[0],
                                      message=f"{name} needs one value per text"),
            tf.debugging.assert_equal(values, values[0],
                                      message=f"{name} must be the same for every text"),
            tf.debugging.assert_greater_equal(values, low, message=f"{name} must be >= {low}"),
            tf.debugging.assert_less_equal(values, high, message=f"{name} must be <= {high}"),
        ]

    def decode(texts, num_beams, max_new_tokens, ngram_sizes=None):
        checks = [
            *same_for_batch(num_beams, "num_beams", 1, task.max_beams, texts),
            tf.debugging.assert_equal(tf.shape(max_new_tokens)[0], tf.shape(texts)[0],
                                      message="max_new_tokens needs one value per text"),
            tf.debugging.assert_non_negative(max_new_tokens,
                                             message="max_new_tokens must be >= 0 (0: the most)"),
            tf.debugging.assert_less_equal(max_new_tokens, cap,
                                           message=f"max_new_tokens must be <= {cap}"),
        ]
        if ngram_sizes is not None:
            checks += same_for_batch(ngram_sizes, "no_repeat_ngram_size", 0,
                                     max(task.ngram_sizes), texts)
        with tf.control_dependencies(checks):
            texts = checked(texts)
            width = tf.identity(num_beams[0])
            ngram = tf.identity(ngram_sizes[0]) if ngram_sizes is not None else None
            max_new_tokens = tf.where(max_new_tokens == 0, task.max_new_tokens, max_new_tokens)
        with tf.control_dependencies([generation_check(max_new_tokens, width)]):
            width = tf.identity(width)

        out = task.decode_texts(model, texts, num_beams=width, max_new_tokens=max_new_tokens,
                                no_repeat_ngram_size=ngram)
        outputs, scores = out[task.output_name], out["scores"]
        return {task.output_name: outputs, "scores": scores}

    if task.ngram_sizes:
        @tf.function(autograph=False, input_signature=[_STRINGS, _INTS, _INTS, _INTS])
        def verb(texts, num_beams, max_new_tokens, no_repeat_ngram_size):
            return decode(texts, num_beams, max_new_tokens, no_repeat_ngram_size)
    else:
        @tf.function(autograph=False, input_signature=[_STRINGS, _INTS, _INTS])
        def verb(texts, num_beams, max_new_tokens):
            return decode(texts, num_beams, max_new_tokens)

    for function in (serving_default, verb):
        function.get_concrete_function()
    return {"serving_default": serving_default, task.verb: verb}


def warmup_requests(task: Any) -> list[tuple[str, dict[str, np.ndarray]]]:
    texts = np.array([task.warmup_text.encode()], dtype=object)
    full = {"texts": texts, "num_beams": np.array([task.options.num_beams], np.int32),
            "max_new_tokens": np.array([0], np.int32)}  # 0: the default
    if task.ngram_sizes:
        full["no_repeat_ngram_size"] = np.array([task.options.no_repeat_ngram_size], np.int32)
    return [("serving_default", {"texts": texts}), (task.verb, full)]
