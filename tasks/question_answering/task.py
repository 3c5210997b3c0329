"""Extractive question answering: point at the answer's first and last token in a passage.

Questions come in SQuAD v1.1's JSON format (`tasks.question_answering.squad`). Texts are
tokenized with character offsets, so a span of tokens maps back to the exact characters of the
passage. Long passages are cut into overlapping windows (`windows.py`); a training window points
at its question's answer, or at [CLS] when the window does not hold it (BERT's recipe), and the
loss is the mean of the start and end cross-entropies. Evaluation answers every question with
the same graph the export serves, scores it as the official script does (`scoring.py`), and
writes the official predictions file (`predictions.json`) into the run directory.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasks import run_files
from tasks.catalog import BUILT_IN_TASKS
from tasks.data import DataError, Tokenizer, build_tokenizer
from tasks.question_answering import serving
from tasks.question_answering.model import SpanExtractor
from tasks.question_answering.scoring import squad_scores
from tasks.question_answering.squad import Question, QuestionSet, load_questions
from tasks.question_answering.windows import (
    Windows,
    WindowShape,
    assemble_windows,
    best_spans,
    passage_offsets,
    plan_windows,
    window_targets,
)
from tasks.replicas import ReplicaLayout
from tasks.request_checks import ServingLimits
from tasks.task import Batch, DataSpec, KerasLoop, OnDemand, Task
from tasks.text_batches import batch_indices

SPECIALS = ("pad", "cls", "sep")
PREDICTIONS = "predictions.json"
ANSWER_BATCH = 64  # questions per call when a whole split is answered


@dataclasses.dataclass(frozen=True)
class QuestionAnsweringOptions:
    """The question-answering task's settings (`--set key=value`).

    Attributes:
        max_length: tokens per window, [CLS] and [SEP]s included (None: the backbone's length).
        doc_stride: passage tokens from one window's start to the next (BERT's doc stride).
        max_question_tokens: a question's first tokens kept (BERT keeps 64 of 384).
        max_answer_tokens: the longest answer span considered, in tokens.
        train_examples: train on this many questions (a seeded subset), None for all.
        eval_examples: answer only the first this many questions of a split when scoring
            exact match and F1 (None: all).
    """

    max_length: int | None = None
    doc_stride: int = 64
    max_question_tokens: int = 32
    max_answer_tokens: int = 30
    train_examples: int | None = None
    eval_examples: int | None = None


@dataclasses.dataclass
class EncodedSplit:
    """A split's questions as token ids, its windows, and each window's targets."""

    questions: tf.RaggedTensor  # [questions, (tokens)]
    contexts: tf.RaggedTensor  # [distinct passages, (tokens)]
    context_of: np.ndarray  # [questions] -> row of `contexts`
    example: np.ndarray  # [windows] -> question
    first: np.ndarray
    count: np.ndarray
    start: np.ndarray  # [windows] target positions (0: [CLS])
    end: np.ndarray


class QuestionAnsweringTask(Task):
    """SQuAD-style span extraction on an encoder, scored by exact match and F1.

    Example:

        task = QuestionAnsweringTask.create(DataSpec("squad", "wordpiece", 128), {})
    """

    name = "question_answering"
    description = BUILT_IN_TASKS["question_answering"].description
    Options = QuestionAnsweringOptions
    recipe = BUILT_IN_TASKS["question_answering"].recipe  # RunConfig defaults (tasks.catalog)

    def __init__(self, questions: QuestionSet | str | OnDemand[QuestionSet],
                 tokenizer: Tokenizer, sequence_length: int, run_dir: str | None = None,
                 **options: Any):
        self.options = self.options_from(options)
        self.tokenizer = tokenizer
        self.run_dir = run_dir
        self._questions = OnDemand(questions, load_questions)
        missing = [n for n in SPECIALS if n not in tokenizer.special_ids]
        if missing:
            raise DataError(f"question answering reads [CLS] question [SEP] passage [SEP], and "
                            f"this tokenizer has no {', '.join(missing)} token: learn a new one "
                            "(or start from a masked-LM run)")
        special = tokenizer.special_ids
        length = min(self.options.max_length or sequence_length, sequence_length)
        self.shape = WindowShape(length, self.options.doc_stride,
                                 self.options.max_question_tokens, special["cls"],
                                 special["sep"], special["pad"])
        self._check_options()
        self._encoded: dict[str, EncodedSplit] = {}
        self._answer_function = None

    def _check_options(self) -> None:
        options, shape = self.options, self.shape
        if options.max_question_tokens < 1 or options.max_answer_tokens < 1:
            raise DataError("max_question_tokens and max_answer_tokens must be at least 1")
        if shape.min_room < 1:
            raise DataError(f"windows of {shape.length} tokens leave no room for the passage "
                            f"after a {options.max_question_tokens}-token question: lower "
                            "max_question_tokens or raise max_length")
        if not 1 <= options.doc_stride <= shape.min_room:
            raise DataError(f"doc_stride must be between 1 and {shape.min_room} (the passage "
                            f"tokens a {shape.length}-token window holds), got "
                            f"{options.doc_stride}")
        for name in ("train_examples", "eval_examples"):
            if getattr(options, name) is not None and getattr(options, name) < 1:
                raise DataError(f"{name} must be at least 1")

    @classmethod
    def create(cls, data: DataSpec, options: Mapping[str, Any], *, run_dir=None,
               tokenizer=None) -> QuestionAnsweringTask:
        cls.options_from(options)
        questions = OnDemand(data.dataset, load_questions)
        tokenizer = cls.resolve_tokenizer(run_dir, tokenizer, lambda: build_tokenizer(
            data.tokenizer, training_text(questions.get().split("train")),
            vocab_size=data.vocab_size, special_tokens=SPECIALS))
        return cls(questions, tokenizer, data.sequence_length, run_dir=run_dir, **options)

    @property
    def questions(self) -> QuestionSet:
        return self._questions.get()

    def describe_data(self) -> str:
        counts = ", ".join(f"{s} {len(q):,} questions" for s, q in self.questions.splits.items())
        return (f"{self.questions.name} ({counts}; windows of {self.shape.length} tokens, "
                f"stride {self.shape.stride})")

    def eval_splits(self) -> list[str]:
        return ["validation"]

    # ----------------------------------------------------------------------------- data

    def examples(self, split: str) -> list[Question]:
        """A split's questions (the seeded training subset when `train_examples` is set)."""
        questions = self.questions.split(split)
        if split == "train" and self.options.train_examples:
            order = np.random.default_rng(0).permutation(len(questions))
            questions = [questions[i] for i in np.sort(order[: self.options.train_examples])]
        return questions

    def encoded(self, split: str) -> EncodedSplit:
        """A split tokenized, windowed and labelled once (each distinct passage once)."""
        if split not in self._encoded:
            self._encoded[split] = self._encode(self.examples(split))
        return self._encoded[split]

    def _encode(self, questions: list[Question]) -> EncodedSplit:
        passages = list(dict.fromkeys(q.context for q in questions))
        row = {text: i for i, text in enumerate(passages)}
        context_of = np.array([row[q.context] for q in questions], np.int64)
        contexts, starts, ends = _tokenize_in_chunks(self.tokenizer, passages)
        question_ids, _, _ = _tokenize_in_chunks(self.tokenizer, [q.question for q in questions])
        first, last = answer_tokens(questions, context_of, starts, ends)
        example, window_first, count = plan_windows(
            self.shape, question_ids.row_lengths(), tf.gather(contexts.row_lengths(), context_of))
        windows = Windows(None, None, None, None, example, window_first,
                          passage_offsets(self.shape, question_ids.row_lengths(), example), count)
        start, end = window_targets(windows, first, last)
        return EncodedSplit(question_ids, contexts, context_of, example.numpy(),
                            window_first.numpy(), count.numpy(), start.numpy(), end.numpy())

    def steps_per_epoch(self, global_batch_size: int) -> int:
        return max(1, len(self.encoded("train").example) // global_batch_size)

    def tokens_per_step(self, global_batch_size: int) -> int:
        return global_batch_size * self.shape.length

    def _window_batch(self, split: EncodedSplit, indices: tf.Tensor):
        """The windows at `indices` of `split`, as (features, (start, end)) [len(indices)]."""
        example = tf.gather(split.example, indices)
        questions = tf.gather(split.questions, example)
        contexts = tf.gather(split.contexts, tf.gather(split.context_of, example))
        windows = assemble_windows(self.shape, questions, contexts,
                                   tf.range(tf.size(indices, out_type=tf.int64)),
                                   tf.gather(split.first, indices), tf.gather(split.count, indices))
        targets = tf.stack([tf.gather(split.start, indices), tf.gather(split.end, indices)], 1)
        return windows.features(), targets

    def train_dataset(self, global_batch_size, *, seed, start_step, num_steps,
                      input_context=None) -> tf.data.Dataset:
        layout = ReplicaLayout.of(global_batch_size, input_context)
        split = self.encoded("train")
        count = len(split.example)

        def batch_for_step(step):
            indices = batch_indices(count, global_batch_size, seed, step)
            features, targets = self._window_batch(split, tf.cast(indices, tf.int64))
            return layout.elements((features, targets, tf.ones([global_batch_size])))

        ds = tf.data.Dataset.range(start_step, num_steps).flat_map(batch_for_step)
        return ds.prefetch(tf.data.AUTOTUNE)

    def eval_dataset(self, split, global_batch_size, *, max_batches=None,
                     input_context=None) -> tf.data.Dataset:
        layout = ReplicaLayout.of(global_batch_size, input_context)
        encoded = self.encoded(split)
        count = len(encoded.example)
        batches = -(-count // global_batch_size)
        if max_batches is not None:
            batches = min(batches, max_batches)

        def batch(number):
            rows = number * global_batch_size + tf.range(global_batch_size, dtype=tf.int64)
            weights = tf.cast(rows < count, tf.float32)
            features, targets = self._window_batch(encoded, tf.minimum(rows, count - 1))
            return layout.elements((features, targets, weights))

        return tf.data.Dataset.range(batches).flat_map(batch)

    def keras_loop(self) -> KerasLoop:
        """x: (questions, contexts) or {"questions", "contexts"}; y: each question's answer as
        (text, character start) or {"text", "answer_start"}. The windows are built eagerly, as
        for training (a long context is several windows, each labelled with the span or
        [CLS]); `predict` gives the start and end logits of every window."""

        def encode(x, y, sample_weight, batch_size, shuffle):
            if sample_weight is not None:
                raise ValueError("question answering weighs every window alike: no sample_weight")
            questions, contexts = (x["questions"], x["contexts"]) if isinstance(x, Mapping) \
                else x
            if len(questions) != len(contexts):
                raise ValueError("x: give one context per question")
            answers = [("", 0)] * len(questions) if y is None else [
                (a["text"], int(a["answer_start"])) if isinstance(a, Mapping) else
                (a[0], int(a[1])) for a in y]
            if len(answers) != len(questions):
                raise ValueError("y: give one answer per question")
            split = self._encode([
                Question(str(i), q, c, (text,), (start,))
                for i, (q, c, (text, start)) in enumerate(zip(questions, contexts, answers))])
            rows = tf.data.Dataset.range(len(split.example))
            if shuffle:
                rows = rows.shuffle(len(split.example), reshuffle_each_iteration=True)

            def batch(indices):
                features, targets = self._window_batch(split, indices)
                return features, (targets[:, 0], targets[:, 1])

            return rows.batch(batch_size).map(batch).prefetch(2)

        def preprocess(*_):
            raise ValueError("question answering builds its windows from lists: pass "
                             "(questions, contexts) and answers, not a dataset")

        def compile_defaults() -> dict[str, Any]:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            return {
                "optimizer": keras.optimizers.AdamW(self.recipe["learning_rate"],
                                                    weight_decay=0.01),
                "loss": [loss, loss],  # start and end, averaged: the trainer's loss
                "loss_weights": [0.5, 0.5],
                "weighted_metrics": [[keras.metrics.SparseCategoricalAccuracy("accuracy")]] * 2,
            }

        return KerasLoop(preprocess, compile_defaults, encode)

    # ----------------------------------------------------------------------------- the model

    def build_model(self, backbone: keras.Model) -> keras.Model:
        if getattr(backbone, "causal", False) or getattr(backbone, "pooling", None):
            raise DataError("question answering reads the passage in both directions: give it "
                            "an encoder (bert_tiny, bert_mini, bert_small)")
        return self.model_for(backbone, self.tokenizer.vocab_size, self.options)

    @classmethod
    def model_for(cls, backbone, vocab_size: int, options) -> SpanExtractor:
        model = SpanExtractor(backbone, name=cls.name, dtype=backbone.dtype_policy)
        zeros = tf.zeros([1, 2], tf.int32)
        model({"token_ids": zeros, "segment_ids": zeros, "padding_mask": zeros + 1,
               "context_mask": zeros + 1})
        return model

    # ----------------------------------------------------------------------------- training

    @staticmethod
    def _losses(model, features, targets, training):
        start_logits, end_logits = model(features, training=training)
        loss = keras.losses.sparse_categorical_crossentropy
        start = loss(targets[:, 0], start_logits, from_logits=True)
        end = loss(targets[:, 1], end_logits, from_logits=True)
        return (start + end) / 2, start_logits, end_logits

    def loss(self, model, batch: Batch, carry, training: bool):
        features, targets, weights = batch
        losses, _, _ = self._losses(model, features, targets, training)
        return tf.reduce_sum(losses * weights), tf.reduce_sum(weights), carry

    # ----------------------------------------------------------------------------- evaluation

    def eval_statistics(self, model, batch: Batch, carry):
        features, targets, weights = batch
        losses, start_logits, end_logits = self._losses(model, features, targets, False)
        hit = lambda logits, target: tf.cast(  # noqa: E731
            tf.argmax(logits, -1, output_type=tf.int32) == target, tf.float32)
        both = hit(start_logits, targets[:, 0]) * hit(end_logits, targets[:, 1])
        return {"loss_sum": tf.reduce_sum(losses * weights), "weight": tf.reduce_sum(weights),
                "span_right": tf.reduce_sum(both * weights)}, carry

    def metrics(self, totals, split: str) -> dict[str, Any]:
        weight = max(float(totals["weight"]), 1.0)
        # span_accuracy: windows whose start and end (or [CLS]) are both right.
        return {"loss": float(totals["loss_sum"]) / weight,
                "span_accuracy": float(totals["span_right"]) / weight}

    def extra_metrics(self, model, split: str) -> dict[str, float]:
        """Exact match and F1 of every question of `split` answered by the serving graph, and
        the official predictions file in the run directory."""
        questions = self.examples(split)
        if self.options.eval_examples:
            questions = questions[: self.options.eval_examples]
        began = time.time()
        answers = self.answer(model, [q.question for q in questions],
                              [q.context for q in questions], progress=True)
        seconds = time.time() - began
        predictions = {q.id: a for q, a in zip(questions, answers)}
        scores = squad_scores(predictions, {q.id: q.answers for q in questions})
        if self.run_dir:
            name = PREDICTIONS if split == "validation" else f"predictions_{split}.json"
            run_files.write_json(os.path.join(self.run_dir, name), predictions)
        return {**scores, "questions_per_second": len(questions) / max(seconds, 1e-9)}

    def answer(self, model, questions: list[str], contexts: list[str], *,
               progress: bool = False) -> list[str]:
        """Each question's answer in its passage, a batch at a time through the graph."""
        if self._answer_function is None or self._answer_function[0] is not model:
            function = tf.function(lambda q, c: self.answer_graph(model, q, c)["answers"],
                                   input_signature=[tf.TensorSpec([None], tf.string)] * 2,
                                   autograph=False)
            self._answer_function = (model, function)
        function = self._answer_function[1]
        out: list[str] = []
        shown = time.time()
        for start in range(0, len(questions), ANSWER_BATCH):
            end = start + ANSWER_BATCH
            found = function(tf.constant(questions[start:end]), tf.constant(contexts[start:end]))
            out += [a.decode("utf-8", "replace") for a in found.numpy()]
            if progress and (time.time() - shown > 10 or end >= len(questions)):
                print(f"answered {len(out):,}/{len(questions):,} questions", file=sys.stderr,
                      flush=True)
                shown = time.time()
        return out

    def answer_graph(self, model, questions: tf.Tensor, contexts: tf.Tensor) -> dict:
        """questions, contexts [B] -> answers [B] and their code-point `start`, `end` in the
        context (`context[start:end] == answer`), and `scores` (the span's probability)."""
        question_ids, _, _ = self.tokenizer.tf_tokenize_with_offsets(questions)
        context_ids, starts, ends = self.tokenizer.tf_tokenize_with_offsets(contexts)
        example, first, count = plan_windows(self.shape, question_ids.row_lengths(),
                                             context_ids.row_lengths())
        windows = assemble_windows(self.shape, question_ids, context_ids, example, first, count)
        start_logits, end_logits = model(windows.features(), training=False)
        first_token, last_token, scores = best_spans(
            start_logits, end_logits, windows, tf.size(questions, out_type=tf.int64),
            self.options.max_answer_tokens)
        # Token indices -> code points; a passage with no tokens answers "" at 0.
        lengths = context_ids.row_lengths()
        has_tokens = lengths > 0
        last_index = tf.maximum(lengths - 1, 0)
        at = lambda offsets, token: tf.where(has_tokens, tf.gather(  # noqa: E731
            offsets.flat_values, context_ids.row_starts() + tf.clip_by_value(
                token, 0, last_index)), 0)
        start, end = at(starts, first_token), at(ends, last_token)
        answers = tf.strings.substr(contexts, start, end - start, unit="UTF8_CHAR")
        return {"answers": answers, "start": tf.cast(start, tf.int32),
                "end": tf.cast(end, tf.int32), "scores": scores}

    # ----------------------------------------------------------------------------- serving

    def serving_signatures(self, model, decoding=None, limits=None):
        return serving.answer_signatures(
            lambda q, c: self.answer_graph(model, q, c), limits or ServingLimits())

    def warmup_requests(self):
        return serving.warmup_requests()


def training_text(questions: list[Question]) -> str:
    """What a new vocabulary is learned from: each distinct passage once, and the questions."""
    passages = dict.fromkeys(q.context for q in questions)
    return "\n".join([*passages, *(q.question for q in questions)])


def answer_tokens(questions: list[Question], context_of: np.ndarray, starts: tf.RaggedTensor,
                  ends: tf.RaggedTensor) -> tuple[np.ndarray, np.ndarray]:
    """Each question's first answer as passage token indices (first, last), -1 where no token
    overlaps it: the tokens that overlap its characters."""
    first = np.full(len(questions), -1, np.int64)
    last = np.full(len(questions), -1, np.int64)
    split_starts, split_ends = starts.row_splits.numpy(), ends.flat_values.numpy()
    flat_starts = starts.flat_values.numpy()
    for i, question in enumerate(questions):
        if not question.answers:
            continue
        a = question.answer_starts[0]
        b = a + len(question.answers[0])
        row = context_of[i]
        lo, hi = split_starts[row], split_starts[row + 1]
        overlapping = np.nonzero((split_ends[lo:hi] > a) & (flat_starts[lo:hi] < b))[0]
        if len(overlapping):
            first[i], last[i] = overlapping[0], overlapping[-1]
    return first, last


def _tokenize_in_chunks(tokenizer: Tokenizer, texts: list[str], chunk: int = 2048):
    """(ids, starts, ends) ragged over `texts`, tokenized a chunk at a time."""
    parts = [tokenizer.tf_tokenize_with_offsets(tf.constant(texts[i : i + chunk]))
             for i in range(0, len(texts), chunk)]
    if not parts:
        raise DataError("no questions to tokenize")
    return tuple(tf.concat([p[k] for p in parts], axis=0) for k in range(3))
