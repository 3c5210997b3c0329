"""The masked-LM task's serving signature: text with [MASK] in, the likeliest fillings out.

    serving_default, fill_mask   texts string [b], each with at least one "[MASK]"
                                 -> tokens string [b, k], token_ids int32 [b, k],
                                    scores float32 [b, k] (probabilities, best first)

The first [MASK] of each text is filled. "[MASK]" is found as text, whatever the tokenizer
(the text around it is tokenized piece by piece and the mask id put between), so a char- or
word-level vocabulary serves as well as WordPiece. A text longer than the model's rows fails
with InvalidArgument, as does one without a [MASK].
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tasks.request_checks import ServingLimits, after, batch_checks, byte_checks
from tasks.text_batches import pad_rows

MASK_TEXT = "[MASK]"
WARMUP_TEXT = f"the {MASK_TEXT} sat"  # short enough for any model
_STRINGS = tf.TensorSpec([None], tf.string)


def fill_mask_signatures(model: Any, tokenizer: tf.Module, sequence_length: int, *, top_k: int,
                         segments: bool, limits: ServingLimits) -> dict[str, Any]:
    ids = tokenizer.special_ids
    mask_id, cls_id, sep_id, pad_id = ids["mask"], ids["cls"], ids["sep"], ids["pad"]
    k = min(int(top_k), int(tokenizer.vocab_size))

    @tf.function(autograph=False, input_signature=[_STRINGS])
    def fill_mask(texts):
        checks = [*batch_checks(texts), *byte_checks(texts, limits)]
        pieces = tf.strings.split(after(checks, texts), MASK_TEXT)  # [b, (masks + 1)]
        masks = pieces.row_lengths() - 1
        with tf.control_dependencies([tf.debugging.assert_positive(
                masks, message=f"texts: every text needs a {MASK_TEXT}")]):
            tokens = tokenizer.tf_tokenize(tf.identity(pieces.flat_values))  # [pieces, (t)]
        last = tf.equal(tf.range(tf.size(pieces.flat_values), dtype=tf.int64) + 1,
                        tf.gather(pieces.row_splits[1:], pieces.value_rowids()))
        mask_after = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tf.cast(~last, tf.int32))], tf.constant(mask_id, tf.int32)),
            tf.cast(~last, tf.int64),
        )
        joined = tf.concat([tf.cast(tokens, tf.int32), mask_after], axis=1)
        rows = tf.RaggedTensor.from_row_splits(joined, pieces.row_splits).merge_dims(1, 2)
        with tf.control_dependencies([tf.debugging.assert_less_equal(
                rows.row_lengths(), tf.constant(sequence_length - 2, tf.int64),
                message=f"texts: a text is longer than {sequence_length - 2} tokens")]):
            token_ids, padding = pad_rows(tf.identity(rows), sequence_length, pad_id, [cls_id],
                                          [sep_id])
        first = tf.argmax(tf.cast(token_ids == mask_id, tf.int32), axis=1, output_type=tf.int32)
        features = {"token_ids": token_ids, "padding_mask": padding,
                    "mask_positions": first[:, None]}
        if segments:
            features["segment_ids"] = tf.zeros_like(token_ids)
        logits = model(features, training=False)["mlm"][:, 0]
        scores, best = tf.math.top_k(tf.nn.softmax(logits), k=k)
        best = tf.cast(best, tf.int32)
        words = tokenizer.tf_detokenize(tf.RaggedTensor.from_tensor(tf.reshape(best, [-1, 1])))
        words = tf.strings.unicode_transcode(words, "UTF-8", "UTF-8", errors="replace")
        return {"tokens": tf.reshape(words, tf.shape(best)), "token_ids": best,
                "scores": scores}

    fill_mask.get_concrete_function()
    return {"serving_default": fill_mask, "fill_mask": fill_mask}


def warmup_requests() -> list[tuple[str, dict[str, np.ndarray]]]:
    texts = np.array([WARMUP_TEXT.encode()], dtype=object)
    return [("serving_default", {"texts": texts}), ("fill_mask", {"texts": texts})]
