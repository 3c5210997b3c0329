"""Passages cut into overlapping windows, and the best answer span found over them, in the graph.

BERT's recipe for passages longer than the model reads: each window is
`[CLS] question [SEP] passage tokens [SEP]`, the passage part starting every `stride` tokens,
so every passage token is in some window with context on both sides. Training, evaluation and
the exported signature all go through these functions, so what is learned is what is served.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

NEG = -1e9  # the logit of a position that cannot be an answer's start or end


@dataclasses.dataclass(frozen=True)
class WindowShape:
    """`length` tokens a window ([CLS] and two [SEP] included); the passage part starts every
    `stride` tokens; a question keeps its first `max_question_tokens` tokens."""

    length: int
    stride: int
    max_question_tokens: int
    cls_id: int
    sep_id: int
    pad_id: int

    @property
    def min_room(self) -> int:
        """Passage tokens a window holds at least (with the longest question)."""
        return self.length - 3 - self.max_question_tokens


@dataclasses.dataclass
class Windows:
    """The windows of a batch of questions: model features [W, length] and where each window
    sits: `example` (which question), `first` (the passage token it starts at), `offset` (its
    position in the window) and `count` (passage tokens it holds)."""

    token_ids: tf.Tensor
    segment_ids: tf.Tensor
    padding_mask: tf.Tensor
    context_mask: tf.Tensor
    example: tf.Tensor
    first: tf.Tensor
    offset: tf.Tensor
    count: tf.Tensor

    def features(self) -> dict[str, tf.Tensor]:
        return {"token_ids": self.token_ids, "segment_ids": self.segment_ids,
                "padding_mask": self.padding_mask, "context_mask": self.context_mask}


def plan_windows(shape: WindowShape, question_lengths: tf.Tensor, context_lengths: tf.Tensor):
    """(example, first, count) for every window of every question [W], in question order."""
    questions = tf.minimum(tf.cast(question_lengths, tf.int64), shape.max_question_tokens)
    contexts = tf.cast(context_lengths, tf.int64)
    room = shape.length - 3 - questions
    extra = tf.maximum(contexts - room, 0)
    windows = 1 + (extra + shape.stride - 1) // shape.stride
    example = tf.repeat(tf.range(tf.size(windows, out_type=tf.int64)), windows)
    first = tf.ragged.range(windows).flat_values * shape.stride
    count = tf.minimum(tf.gather(room, example), tf.gather(contexts, example) - first)
    return example, first, tf.maximum(count, 0)


def assemble_windows(shape: WindowShape, questions: tf.RaggedTensor, contexts: tf.RaggedTensor,
                     example: tf.Tensor, first: tf.Tensor, count: tf.Tensor) -> Windows:
    """The windows `plan_windows` planned, as model inputs: token ids, segments (0 for
    [CLS] question [SEP], 1 for the passage and its [SEP]), padding and passage masks."""
    questions = tf.cast(questions[:, : shape.max_question_tokens], tf.int32)
    question = tf.gather(questions, example)
    positions = tf.ragged.range(first, first + count) + tf.gather(
        contexts.row_splits, example)[:, None]
    passage = tf.gather(tf.cast(contexts.flat_values, tf.int32), positions)
    rows = tf.size(example)
    one = lambda value: tf.RaggedTensor.from_tensor(tf.fill([rows, 1], value))  # noqa: E731
    ids = tf.concat([one(shape.cls_id), question, one(shape.sep_id), passage,
                     one(shape.sep_id)], axis=1)
    offset = passage_offsets(shape, questions.row_lengths(), example)
    lengths = ids.row_lengths()
    position = tf.range(shape.length, dtype=tf.int64)[None, :]
    real = position < lengths[:, None]
    in_passage = (position >= offset[:, None]) & (position < (offset + count)[:, None])
    segment = real & (position >= offset[:, None])
    return Windows(
        token_ids=ids.to_tensor(shape.pad_id, shape=[None, shape.length]),
        segment_ids=tf.cast(segment, tf.int32),
        padding_mask=tf.cast(real, tf.int32),
        context_mask=tf.cast(in_passage, tf.int32),
        example=example, first=first, offset=offset, count=count,
    )


def passage_offsets(shape: WindowShape, question_lengths: tf.Tensor,
                    example: tf.Tensor) -> tf.Tensor:
    """Where each window's passage part starts: after [CLS], the (cut) question and [SEP]."""
    lengths = tf.minimum(tf.cast(question_lengths, tf.int64), shape.max_question_tokens)
    return tf.gather(lengths, example) + 2


def window_targets(windows: Windows, answer_first: tf.Tensor, answer_last: tf.Tensor):
    """Start and end positions in each window of its question's answer tokens, or 0 ([CLS])
    where the window does not hold the whole answer (BERT's convention)."""
    first = tf.gather(tf.cast(answer_first, tf.int64), windows.example)
    last = tf.gather(tf.cast(answer_last, tf.int64), windows.example)
    inside = (first >= windows.first) & (last < windows.first + windows.count) & (first >= 0)
    start = tf.where(inside, first - windows.first + windows.offset, 0)
    end = tf.where(inside, last - windows.first + windows.offset, 0)
    return tf.cast(start, tf.int32), tf.cast(end, tf.int32)


def best_spans(start_logits: tf.Tensor, end_logits: tf.Tensor, windows: Windows,
               questions: tf.Tensor, max_answer_tokens: int):
    """The best passage span of each question over all its windows.

    A span's score is its start logit plus its end logit (BERT's rule), over spans inside the
    passage part with end >= start and at most `max_answer_tokens` tokens: the exact best, not
    an n-best approximation. Returns, per question, the passage token indices of its first and
    last token [B] int64, and the span's probability in its window (softmax start x end).
    """
    mask = tf.cast(windows.context_mask, tf.bool)
    start = tf.where(mask, start_logits, NEG)
    end = tf.where(mask, end_logits, NEG)
    length = tf.shape(start)[1]
    # [W, T, A]: the end logit `a` tokens after each start (NEG past the window's end).
    padded = tf.pad(end, [[0, 0], [0, max_answer_tokens]], constant_values=NEG)
    ends = tf.stack([padded[:, a : a + length] for a in range(max_answer_tokens)], axis=2)
    scores = tf.reshape(start[:, :, None] + ends, [tf.shape(start)[0], -1])
    best = tf.argmax(scores, axis=1, output_type=tf.int64)
    score = tf.reduce_max(scores, axis=1)
    at = best // max_answer_tokens
    span_end = at + best % max_answer_tokens
    # The best window of each question: its highest score, the first window on a tie.
    per_question = tf.RaggedTensor.from_value_rowids(score, windows.example, nrows=questions)
    window = per_question.row_starts() + tf.argmax(
        per_question.to_tensor(2 * NEG), axis=1, output_type=tf.int64)
    log_start = tf.nn.log_softmax(start_logits)  # over the whole window, [CLS] included
    log_end = tf.nn.log_softmax(end_logits)
    rows = tf.stack([window, tf.gather(at, window)], axis=1)
    rows_end = tf.stack([window, tf.gather(span_end, window)], axis=1)
    probability = tf.exp(tf.gather_nd(log_start, rows) + tf.gather_nd(log_end, rows_end))
    to_passage = tf.gather(windows.first - windows.offset, window)
    return (tf.gather(at, window) + to_passage, tf.gather(span_end, window) + to_passage,
            probability)
