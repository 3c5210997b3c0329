"""What one request may ask of an exported model, and the graph assertions every signature makes
of its inputs: they fail with InvalidArgument and a message a client can act on, on TF Serving as
on `zoo.serve`, since nothing of ours runs around the exported graph."""

from __future__ import annotations

import tensorflow as tf

from tasks.serving_limits import ServingLimits


def batch_checks(texts: tf.Tensor, what: str = "texts", *, blank_ok: bool = True) -> list:
    """Graph assertions that `texts` holds at least one text and, unless `blank_ok`, that none
    of them is empty or only spaces."""
    checks = [tf.debugging.assert_positive(
        tf.size(texts), message=f"{what}: the batch is empty; send at least one")]
    if not blank_ok:
        checks.append(tf.debugging.assert_positive(
            tf.strings.length(tf.strings.strip(texts)),
            message=f"{what}: every text must hold at least one non-space character"))
    return checks


# Bytes allowed per allowed token, checked before any tokenizing so that the tokenizer's own
# work is bounded however large a request is: natural text runs at 4-5 UTF-8 bytes a token, and
# a text whose tokens average more than 16 is not one a model reads well anyway.
BYTES_PER_TOKEN = 16


def byte_checks(texts: tf.Tensor, limits: ServingLimits, what: str = "texts", *,
                byte_counts: tf.Tensor | None = None, text_tokens: int | None = None) -> list:
    """Graph assertions, to run before tokenizing, on the request's size in bytes: at most
    `limits.max_batch` texts and BYTES_PER_TOKEN bytes per token of `max_input_tokens` in all,
    and, with `text_tokens`, BYTES_PER_TOKEN per token of it in each text. `byte_counts`
    defaults to each text's length."""
    sizes = tf.strings.length(texts) if byte_counts is None else byte_counts
    most = limits.max_input_tokens * BYTES_PER_TOKEN
    checks = [
        tf.debugging.assert_less_equal(
            tf.size(texts), limits.max_batch,
            message=f"{what}: at most {limits.max_batch} per request"),
        tf.debugging.assert_less_equal(
            tf.reduce_sum(tf.cast(sizes, tf.int64)), tf.constant(most, tf.int64),
            message=f"{what}: at most {most} bytes per request ({BYTES_PER_TOKEN} for each of "
                    f"its {limits.max_input_tokens} tokens)"),
    ]
    if text_tokens is not None:
        checks.append(tf.debugging.assert_less_equal(
            tf.cast(sizes, tf.int64), tf.constant(text_tokens * BYTES_PER_TOKEN, tf.int64),
            message=f"{what}: a text of more than {text_tokens * BYTES_PER_TOKEN} bytes is "
                    f"longer than the model's {text_tokens} tokens; split it"))
    return checks


def token_checks(token_counts: tf.Tensor, limits: ServingLimits, what: str = "texts") -> list:
    """Graph assertions, once tokenized, that the request holds at most `max_input_tokens`."""
    return [tf.debugging.assert_less_equal(
        tf.reduce_sum(tf.cast(token_counts, tf.int64)),
        tf.constant(limits.max_input_tokens, tf.int64),
        message=f"{what}: at most {limits.max_input_tokens} tokens per request")]


def after(checks: list, tensor):
    """`tensor`, computed only once every assertion in `checks` has passed."""
    with tf.control_dependencies(checks):
        return tf.identity(tensor)
