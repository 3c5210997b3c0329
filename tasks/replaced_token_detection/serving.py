"""The replaced-token detector's serving signature: which tokens of a text look replaced.

    serving_default, detect   texts string [b]
                              -> tokens string [b, n] (each token's text, "" past the end),
                                 scores float32 [b, n] (the probability it was replaced),
                                 lengths int32 [b]

Each text is read as the model reads a row, `[CLS] text [SEP]`; a text longer than the row
fails with InvalidArgument. The generator is not part of the answer: a served detector is the
discriminator alone (ELECTRA's use at inference, e.g. to spot implausible words).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tasks.request_checks import ServingLimits, after, batch_checks, byte_checks
from tasks.text_batches import pad_rows

WARMUP_TEXT = "the film sat"
_STRINGS = tf.TensorSpec([None], tf.string)


def detection_signatures(model: Any, tokenizer: tf.Module, sequence_length: int, *,
                         limits: ServingLimits) -> dict[str, Any]:
    ids = tokenizer.special_ids

    @tf.function(autograph=False, input_signature=[_STRINGS])
    def detect(texts):
        checks = [*batch_checks(texts), *byte_checks(texts, limits)]
        rows = tf.cast(tokenizer.tf_tokenize(after(checks, texts)), tf.int32)
        with tf.control_dependencies([tf.debugging.assert_less_equal(
                rows.row_lengths(), tf.constant(sequence_length - 2, tf.int64),
                message=f"texts: a text is longer than {sequence_length - 2} tokens")]):
            token_ids, padding = pad_rows(tf.identity(rows), sequence_length, ids["pad"],
                                          [ids["cls"]], [ids["sep"]])
        hidden = model.backbone(token_ids, padding_mask=padding, training=False)
        logits = tf.squeeze(model.rtd_logit(model.rtd_dense(hidden)), -1)
        lengths = tf.cast(rows.row_lengths(), tf.int32)
        width = tf.reduce_max(lengths)
        scores = tf.sigmoid(tf.cast(logits, tf.float32))[:, 1 : 1 + width]
        real = tf.sequence_mask(lengths, width)
        words = tokenizer.tf_detokenize(tf.RaggedTensor.from_tensor(
            tf.reshape(token_ids[:, 1 : 1 + width], [-1, 1])))
        words = tf.strings.unicode_transcode(words, "UTF-8", "UTF-8", errors="replace")
        words = tf.where(real, tf.reshape(words, tf.shape(real)), "")
        return {"tokens": words, "scores": tf.where(real, scores, 0.0), "lengths": lengths}

    detect.get_concrete_function()
    return {"serving_default": detect, "detect": detect}


def warmup_requests() -> list[tuple[str, dict[str, np.ndarray]]]:
    texts = np.array([WARMUP_TEXT.encode()], dtype=object)
    return [("serving_default", {"texts": texts}), ("detect", {"texts": texts})]
