"""`QuestionAnswerer`: an extractive question-answering run or export."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from zoo.config import ConfigError
from zoo.pipelines.pipeline import Pipeline, as_texts

BATCH = 64  # questions per call, at most
# Bytes of questions and contexts per call, at most: well inside the export's default cap
# (`tasks.request_checks.byte_checks`: 16 bytes per token of `max_input_tokens`).
BATCH_BYTES = 1 << 16


@dataclasses.dataclass(frozen=True)
class Answer:
    """A span of the context: `context[start:end] == text` (code points), with its
    probability `score`."""

    text: str
    start: int
    end: int
    score: float


class QuestionAnswerer(Pipeline):
    """Answers questions with a span of their context.

        >>> qa = zoo.load("saved_models/bert_tiny/1")
        >>> qa.answer("Where do the ships sail from?", "The ships sail from the old harbour.")
        Answer(text='the old harbour', start=20, end=35, score=0.8...)
    """

    task_name = "question_answering"
    signature = "answer"

    def answer(self, questions: str | Sequence[str],
               contexts: str | Sequence[str]) -> Answer | list[Answer]:
        """Each question's answer in the context at the same position."""
        asked, single = as_texts(questions, "questions")
        given, _ = as_texts(contexts, "contexts")
        if len(asked) != len(given):
            raise ConfigError(f"questions and contexts: give one context per question "
                             f"({len(asked)} questions, {len(given)} contexts)")
        out = []
        for rows in batches([len(q.encode()) + len(c.encode()) for q, c in zip(asked, given)]):
            found = self.call_signature("answer", questions=[asked[i] for i in rows],
                                        contexts=[given[i] for i in rows])
            out += [Answer(found["answers"][j].decode("utf-8", "replace"),
                           int(found["start"][j]), int(found["end"][j]),
                           float(found["scores"][j])) for j in range(len(rows))]
        return out[0] if single else out


def batches(sizes: list[int]) -> list[list[int]]:
    """Consecutive row indices in calls of at most BATCH rows and BATCH_BYTES bytes (a row over
    the bytes alone goes by itself, for the signature to refuse in one line)."""
    out: list[list[int]] = [[]]
    total = 0
    for i, size in enumerate(sizes):
        if out[-1] and (len(out[-1]) == BATCH or total + size > BATCH_BYTES):
            out.append([])
            total = 0
        out[-1].append(i)
        total += size
    return out
