"""The question answerer's serving signatures: raw question and passage in, the answer out.

    serving_default, answer    questions string [b], contexts string [b]
                               -> answers string [b], start int32 [b], end int32 [b]
                                  (code points: in Python `context[start:end] == answer`),
                                  scores float32 [b] (the span's probability in its window)

Tokenizing, windowing and the span search are all in the graph. An empty batch, a blank
question or passage, batches of different sizes, or more than the request caps allow fail with
InvalidArgument (HTTP 400) before any work; a long passage is windowed, never truncated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tasks.request_checks import ServingLimits, after, batch_checks, byte_checks

WARMUP_QUESTION = "Where do the ships sail?"
WARMUP_CONTEXT = "The ships sail from the old harbour at dawn."


def answer_signatures(answer: Callable, limits: ServingLimits) -> dict:
    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    def answer_questions(questions, contexts):
        checks = [
            *batch_checks(questions, "questions", blank_ok=False),
            *batch_checks(contexts, "contexts", blank_ok=False),
            tf.debugging.assert_equal(
                tf.size(questions), tf.size(contexts),
                message="questions and contexts: send one context per question"),
            # Before tokenizing: the work is bounded by the request's bytes.
            *byte_checks(contexts, limits, "questions and contexts",
                         byte_counts=tf.strings.length(contexts) + tf.strings.length(questions)),
        ]
        return answer(after(checks, questions), after(checks, contexts))

    answer_questions.get_concrete_function()
    return {"serving_default": answer_questions, "answer": answer_questions}


def warmup_requests() -> list[tuple[str, dict[str, np.ndarray]]]:
    inputs = {"questions": np.array([WARMUP_QUESTION.encode()], dtype=object),
              "contexts": np.array([WARMUP_CONTEXT.encode()], dtype=object)}
    return [("serving_default", inputs), ("answer", inputs)]
