"""Masked language modeling (BERT's pretraining): predict masked tokens from both sides.

Training examples are `[CLS] tokens [SEP]` rows of the backbone's length, made from any corpus:
packed windows of the token stream (the default; every position is text) or one line each
(`packing="sentences"`). With `nsp=True` each row is a sentence pair `[CLS] A [SEP] B [SEP]`
with segment ids, where B is A's next line half the time and a random line otherwise, and the
model also predicts which (next-sentence prediction; off by default, since RoBERTa (Liu et al.
2019) found pretraining as good without it). Masks are drawn per batch (dynamic masking, as
RoBERTa), keyed by (seed, step): see `tasks.masked_lm.masking`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasks.catalog import BUILT_IN_TASKS
from tasks.data import Corpus, DataError, Tokenizer, build_tokenizer, load_corpus
from tasks.masked_lm import serving
from tasks.masked_lm.masking import mask_tokens, max_predictions
from tasks.masked_lm.model import MaskedLM
from tasks.replicas import ReplicaLayout
from tasks.request_checks import ServingLimits
from tasks.task import Batch, DataSpec, KerasLoop, OnDemand, Task
from tasks.text_batches import batch_indices, encode_texts, pad_rows

SPECIALS = ("pad", "cls", "sep", "mask")
_EVAL_SEED = 20260101  # evaluation masks are the same at every evaluation
PACKINGS = ("windows", "sentences")


@dataclasses.dataclass(frozen=True)
class MaskedLanguageModelingOptions:
    """The masked-LM task's settings (`--set key=value`).

    Attributes:
        mask_rate: the share of tokens selected for prediction (BERT: 0.15).
        packing: "windows" (contiguous token windows, every position text) or "sentences"
            (one line per row, padded).
        nsp: add next-sentence prediction on sentence pairs.
        top_k: how many candidates the `fill_mask` signature returns.
    """

    mask_rate: float = 0.15
    packing: str = "windows"
    nsp: bool = False
    top_k: int = 5


class MaskedLanguageModelingTask(Task):
    """BERT's masked-LM pretraining on a text corpus, for an encoder backbone.

    Example:

        task = MaskedLanguageModelingTask("wikitext2", tokenizer, sequence_length=128)
    """

    name = "masked_lm"
    description = BUILT_IN_TASKS["masked_lm"].description
    Options = MaskedLanguageModelingOptions

    def __init__(self, corpus: Corpus | str | OnDemand[Corpus], tokenizer: Tokenizer,
                 sequence_length: int, **options: Any):
        self.options = self.options_from(options)
        if self.options.packing not in PACKINGS:
            raise DataError(f"packing must be one of {', '.join(PACKINGS)}")
        if not 0 < self.options.mask_rate < 1:
            raise DataError(f"mask_rate must be in (0, 1), got {self.options.mask_rate}")
        missing = [name for name in SPECIALS if name not in tokenizer.special_ids]
        if missing:
            raise DataError(
                f"masked_lm needs a tokenizer with {', '.join(SPECIALS)} tokens; this one lacks "
                f"{', '.join(missing)}: learn a new one rather than reuse another run's"
            )
        if sequence_length < 8:
            raise DataError(f"sequence_length must be at least 8, got {sequence_length}")
        self._corpus = OnDemand(corpus, load_corpus)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.ids = tokenizer.special_ids
        self.predictions = max_predictions(sequence_length, self.options.mask_rate)
        self._streams: dict[str, np.ndarray] = {}
        self._lines: dict[str, list[np.ndarray]] = {}

    @classmethod
    def create(cls, data: DataSpec, options: Mapping[str, Any], *, run_dir=None, tokenizer=None):
        corpus = OnDemand(data.dataset, load_corpus)
        tokenizer = cls.resolve_tokenizer(run_dir, tokenizer, lambda: build_tokenizer(
            data.tokenizer, corpus.get().split("train"), vocab_size=data.vocab_size,
            special_tokens=SPECIALS))
        return cls(corpus, tokenizer, data.sequence_length, **options)

    @property
    def corpus(self) -> Corpus:
        return self._corpus.get()

    def describe_data(self) -> str:
        how = "sentence pairs" if self.options.nsp else self.options.packing
        return f"{self.corpus.name} ({how}, {self.options.mask_rate:.0%} masked)"

    def eval_splits(self) -> list[str]:
        return [s for s in ("validation", "test") if s in self.corpus.splits]

    # ----------------------------------------------------------------------------- text

    def stream(self, split: str) -> np.ndarray:
        """The split's token ids in one stream (windows)."""
        if split not in self._streams:
            ids = np.asarray(self.tokenizer.encode(self.corpus.split(split)), np.int32)
            if len(ids) < self.sequence_length:
                raise DataError(f"{self.corpus.name}/{split}: {len(ids)} tokens, fewer than one "
                                f"row of {self.sequence_length}; give more text")
            self._streams[split] = ids
        return self._streams[split]

    def lines(self, split: str) -> list[np.ndarray]:
        """The token ids of each non-empty line of the split (sentences and pairs)."""
        if split not in self._lines:
            texts = [line for line in self.corpus.split(split).split("\n") if line.strip()]
            if len(texts) < 2:
                raise DataError(f"{self.corpus.name}/{split}: fewer than two non-empty lines")
            self._lines[split] = [ids for ids in encode_texts(self.tokenizer, texts) if len(ids)]
        return self._lines[split]

    def _count(self, split: str) -> int:
        """Training examples in a split: windows or lines."""
        if self.options.nsp or self.options.packing == "sentences":
            return len(self.lines(split)) - (1 if self.options.nsp else 0)
        return len(self.stream(split)) // (self.sequence_length - 2)

    # ----------------------------------------------------------------------------- data

    def steps_per_epoch(self, global_batch_size: int) -> int:
        return max(1, self._count("train") // global_batch_size)

    def tokens_per_step(self, global_batch_size: int) -> int:
        return global_batch_size * self.sequence_length

    def train_dataset(self, global_batch_size, *, seed, start_step, num_steps,
                      input_context=None) -> tf.data.Dataset:
        layout = ReplicaLayout.of(global_batch_size, input_context)
        rows = self._row_maker("train", seed)

        def batch_for_step(step):
            indices = batch_indices(self._count("train"), global_batch_size, seed, step)
            pair_seed = tf.stack([tf.constant(seed + 1, tf.int64), step])
            token_ids, mask, segments, is_next = rows(indices, pair_seed)
            mask_seed = tf.stack([tf.constant(seed + 2, tf.int64), step])
            return layout.elements(self._masked(token_ids, mask, segments, is_next, mask_seed))

        ds = tf.data.Dataset.range(start_step, num_steps).flat_map(batch_for_step)
        return ds.prefetch(tf.data.AUTOTUNE)

    def eval_dataset(self, split, global_batch_size, *, max_batches=None,
                     input_context=None) -> tf.data.Dataset:
        layout = ReplicaLayout.of(global_batch_size, input_context)
        count = self._count(split)
        batches = math.ceil(count / global_batch_size)
        if max_batches is not None:
            batches = min(batches, max_batches)
        rows = self._row_maker(split, _EVAL_SEED)

        def batch(number):
            indices = number * global_batch_size + tf.range(global_batch_size, dtype=tf.int64)
            real = indices < count
            pair_seed = tf.stack([tf.constant(_EVAL_SEED, tf.int64), number])
            token_ids, mask, segments, is_next = rows(tf.minimum(indices, count - 1), pair_seed)
            mask_seed = tf.stack([tf.constant(_EVAL_SEED + 1, tf.int64), number])
            features, targets, weights = self._masked(token_ids, mask, segments, is_next,
                                                      mask_seed)
            real = tf.cast(real, tf.float32)
            weights = {k: v * tf.reshape(real, [-1] + [1] * (v.shape.rank - 1))
                       for k, v in weights.items()}
            return layout.elements((features, targets, weights))

        return tf.data.Dataset.range(batches).flat_map(batch)

    def _row_maker(self, split: str, seed: int):
        """(example indices, seed) -> token ids, padding mask, segment ids, is-next labels."""
        length, cls_id, sep_id, pad_id = (self.sequence_length, self.ids["cls"], self.ids["sep"],
                                          self.ids["pad"])
        if not (self.options.nsp or self.options.packing == "sentences"):
            stream = tf.constant(self.stream(split))
            width = length - 2

            def windows(indices, _):
                starts = tf.cast(indices, tf.int32) * width
                ids = tf.RaggedTensor.from_tensor(
                    tf.gather(stream, starts[:, None] + tf.range(width)[None, :])
                )
                token_ids, mask = pad_rows(ids, length, pad_id, [cls_id], [sep_id])
                return token_ids, mask, tf.zeros_like(token_ids), tf.zeros_like(starts)

            return windows
        lines = tf.ragged.constant(self.lines(split), dtype=tf.int32)
        count = int(lines.nrows())
        if not self.options.nsp:
            def sentences(indices, _):
                token_ids, mask = pad_rows(tf.gather(lines, indices), length, pad_id, [cls_id],
                                           [sep_id])
                return token_ids, mask, tf.zeros_like(token_ids), tf.zeros(tf.shape(indices),
                                                                           tf.int32)
            return sentences

        half = (length - 3) // 2

        def pairs(indices, pair_seed):
            indices = tf.cast(indices, tf.int32)
            seeds = tf.random.experimental.stateless_split(pair_seed, 2)
            is_next = tf.random.stateless_uniform(tf.shape(indices), seed=seeds[0]) < 0.5
            other = tf.random.stateless_uniform(tf.shape(indices), seed=seeds[1], minval=0,
                                                maxval=count, dtype=tf.int32)
            second = tf.where(is_next, indices + 1, other)
            first_ids = tf.gather(lines, indices)[:, :half]
            second_ids = tf.gather(lines, second)[:, : length - 3 - half]
            rows = _ragged_concat(cls_id, first_ids, sep_id, second_ids, sep_id)
            segments = _ragged_concat(0, tf.zeros_like(first_ids), 0, tf.ones_like(second_ids), 1)
            token_ids, mask = pad_rows(rows, length, pad_id)
            segment_ids, _ = pad_rows(segments, length, 0)
            return token_ids, mask, segment_ids, tf.cast(is_next, tf.int32)

        return pairs

    def _masked(self, token_ids, mask, segments, is_next, seed) -> Batch:
        selectable = (mask > 0) & (token_ids != self.ids["cls"]) & (token_ids != self.ids["sep"])
        masked = mask_tokens(
            token_ids, selectable, seed, mask_id=self.ids["mask"],
            vocab_size=self.tokenizer.vocab_size, special_ids=tuple(self.ids.values()),
            rate=self.options.mask_rate,
            predictions=self.predictions,
        )
        features = {"token_ids": masked.token_ids, "padding_mask": mask,
                    "mask_positions": masked.positions}
        targets, weights = {"mlm": masked.targets}, {"mlm": masked.weights}
        if self.options.nsp:
            features["segment_ids"] = segments
            targets["nsp"] = is_next
            weights["nsp"] = tf.ones(tf.shape(is_next), tf.float32)
        return features, targets, weights

    def keras_loop(self) -> KerasLoop:
        """Texts in, masked afresh each batch as in training (one text a row, cut to the
        model's length); the masked-LM loss on the chosen positions."""
        length, ids = self.sequence_length, self.ids

        def preprocess(x, y=None, sample_weight=None):
            if y is not None:
                raise ValueError("a masked LM learns from texts alone: give no y")
            rows = self.tokenizer.tf_tokenize(x)[:, : length - 2]
            token_ids, mask = pad_rows(rows, length, ids["pad"], [ids["cls"]], [ids["sep"]])
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
            features, targets, weights = self._masked(
                token_ids, mask, tf.zeros_like(token_ids), tf.zeros(tf.shape(x), tf.int32), seed)
            return features, {"mlm": targets["mlm"]}, {"mlm": weights["mlm"]}

        return KerasLoop.for_classes(preprocess, output="mlm")

    # ----------------------------------------------------------------------------- the model

    def build_model(self, backbone: keras.Model) -> keras.Model:
        return self.model_for(backbone, self.tokenizer.vocab_size, self.options)

    @classmethod
    def model_for(cls, backbone, vocab_size: int, options) -> MaskedLM:
        if getattr(backbone, "causal", False):
            raise DataError("masked_lm needs a bidirectional backbone (an encoder such as "
                            "bert_tiny); this one is causal")
        model = MaskedLM(backbone, vocab_size, next_sentence=options.nsp, name=cls.name,
                         dtype=backbone.dtype_policy)
        features = {"token_ids": tf.zeros([1, 2], tf.int32), "padding_mask": tf.ones([1, 2]),
                    "mask_positions": tf.zeros([1, 1], tf.int32)}
        if options.nsp:
            features["segment_ids"] = tf.zeros([1, 2], tf.int32)
        model(features)
        return model

    # ----------------------------------------------------------------------------- training

    def loss(self, model, batch: Batch, carry, training: bool):
        """MLM: the sum over selected positions, weighted by how many; NSP, when on, adds its
        mean loss scaled to the same weight (BERT's loss is the sum of the two means)."""
        features, targets, weights = batch
        out = model(features, training=training)
        mlm = keras.losses.sparse_categorical_crossentropy(targets["mlm"], out["mlm"],
                                                           from_logits=True)
        loss_sum, weight = tf.reduce_sum(mlm * weights["mlm"]), tf.reduce_sum(weights["mlm"])
        if self.options.nsp:
            nsp = keras.losses.sparse_categorical_crossentropy(targets["nsp"], out["nsp"],
                                                               from_logits=True)
            nsp_mean = tf.math.divide_no_nan(tf.reduce_sum(nsp * weights["nsp"]),
                                             tf.reduce_sum(weights["nsp"]))
            loss_sum += nsp_mean * tf.stop_gradient(weight)
        return loss_sum, weight, carry

    # ----------------------------------------------------------------------------- evaluation

    def eval_statistics(self, model, batch: Batch, carry):
        features, targets, weights = batch
        out = model(features, training=False)
        mlm = keras.losses.sparse_categorical_crossentropy(targets["mlm"], out["mlm"],
                                                           from_logits=True)
        hit = tf.cast(tf.argmax(out["mlm"], -1, output_type=tf.int32) == targets["mlm"],
                      tf.float32)
        stats = {"mlm_loss_sum": tf.reduce_sum(mlm * weights["mlm"]),
                 "mlm_weight": tf.reduce_sum(weights["mlm"]),
                 "mlm_correct": tf.reduce_sum(hit * weights["mlm"])}
        if self.options.nsp:
            nsp = keras.losses.sparse_categorical_crossentropy(targets["nsp"], out["nsp"],
                                                               from_logits=True)
            right = tf.cast(tf.argmax(out["nsp"], -1, output_type=tf.int32) == targets["nsp"],
                            tf.float32)
            stats.update(nsp_loss_sum=tf.reduce_sum(nsp * weights["nsp"]),
                         nsp_correct=tf.reduce_sum(right * weights["nsp"]),
                         nsp_count=tf.reduce_sum(weights["nsp"]))
        return stats, carry

    def metrics(self, totals, split: str) -> dict[str, float]:
        mlm_loss = float(totals["mlm_loss_sum"]) / max(float(totals["mlm_weight"]), 1.0)
        metrics = {
            "loss": mlm_loss,
            "mlm_accuracy": float(totals["mlm_correct"]) / max(float(totals["mlm_weight"]), 1.0),
            "mlm_perplexity": math.exp(min(mlm_loss, 700.0)),
        }
        if self.options.nsp:
            count = max(float(totals["nsp_count"]), 1.0)
            metrics["loss"] = mlm_loss + float(totals["nsp_loss_sum"]) / count
            metrics["mlm_loss"] = mlm_loss
            metrics["nsp_accuracy"] = float(totals["nsp_correct"]) / count
        return metrics

    # ----------------------------------------------------------------------------- serving

    def serving_signatures(self, model, decoding=None, limits=None):
        return serving.fill_mask_signatures(model, self.tokenizer, self.sequence_length,
                                    top_k=self.options.top_k, segments=self.options.nsp,
                                    limits=limits or ServingLimits())

    def warmup_requests(self):
        return serving.warmup_requests()


def _ragged_concat(*parts) -> tf.RaggedTensor:
    """Rows joined from ragged parts and single ids (the same id for every row)."""
    rows = next(p for p in parts if isinstance(p, tf.RaggedTensor)).nrows()
    pieces = [
        p if isinstance(p, tf.RaggedTensor)
        else tf.RaggedTensor.from_tensor(tf.fill([rows, 1], tf.constant(p, tf.int32)))
        for p in parts
    ]
    return tf.concat(pieces, axis=1)
