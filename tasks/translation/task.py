"""Sequence-to-sequence translation: source text in, target text out, judged by sacreBLEU.

Pairs come from `tasks.data.load_pairs` (`spa_eng`, or any TSV/CSV/JSONL of pairs): the
dataset's own split, or a seeded split by hashing the source sentence (70/15/15), so that the
several translations Tatoeba has of one sentence never straddle train and test. One vocabulary
(SentencePiece or WordPiece, with <pad>, <s> and </s>) is learned on both sides of the training
pairs. Training is teacher-forced: the decoder reads `<s> target` and predicts `target </s>`,
with label smoothing (0.1, as Model Garden's Transformer); evaluation reports the per-token
loss and accuracy, and, once a run ends and in `zoo.evaluate`, sacreBLEU and chrF of beam-search
translations of the whole split.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasks.data import DataError, Examples, Tokenizer, build_tokenizer, load_pairs
from tasks.data.examples import PAIR_LANGUAGES, PAIRS
from tasks.decoding import generate
from tasks.replicas import ReplicaLayout
from tasks.request_checks import ServingLimits
from tasks.task import Batch, DataSpec, OnDemand, Task
from tasks.text_batches import encode_texts, pad_rows
from tasks.translation import serving
from tasks.translation.length_buckets import LengthBuckets
from tasks.translation.model import Seq2SeqLM
from tasks.translation.serving import MAX_BEAMS

SPECIALS = ("pad", "bos", "eos")


@dataclasses.dataclass(frozen=True)
class TranslationOptions:
    """The translation task's settings (`--set key=value`).

    Attributes:
        source_lang, target_lang: the direction, for datasets whose languages are known
            (`spa_eng`: "en" and "es"; English to Spanish by default, as keras.io).
        source_column, target_column: where a file keeps the two sides (names or indices).
        label_smoothing: of the training targets (Szegedy et al. 2016).
        num_beams: beam width for BLEU and the export's default (1: greedy).
        length_penalty: alpha of GNMT's length normalisation for beams (Model Garden: 0.6).
        max_new_tokens: the longest translation, in tokens (None: the model's length - 1).
        tie_embeddings: the output layer is the decoder's token embedding.
        bleu_examples: translate at most this many sentences for BLEU (None: the whole split).
    """

    source_lang: str | None = None
    target_lang: str | None = None
    source_column: Any = None
    target_column: Any = None
    label_smoothing: float = 0.1
    num_beams: int = 4
    length_penalty: float = 0.6
    max_new_tokens: int | None = None
    tie_embeddings: bool = True
    bleu_examples: int | None = None


class TranslationTask(Task):
    """Translation of text pairs with an encoder-decoder backbone."""

    name = "translation"
    description = "sequence to sequence: token accuracy, sacreBLEU and chrF; translate text"
    Options = TranslationOptions

    def __init__(self, pairs: Examples | str | OnDemand[Examples], tokenizer: Tokenizer,
                 sequence_length: int, **options: Any):
        self.options = self.options_from(options)
        self._pairs = OnDemand(pairs, lambda name: self._load(name, self.options))
        self._direction = _direction(self._pairs.name, self.options)
        if not 1 <= self.options.num_beams <= MAX_BEAMS:
            raise DataError(f"num_beams must be in 1..{MAX_BEAMS}, got {self.options.num_beams}")
        missing = [n for n in SPECIALS if n not in tokenizer.special_ids]
        if missing:
            raise DataError(f"translation needs <pad>, <s> and </s> tokens; this tokenizer lacks "
                            f"{', '.join(missing)}")
        if sequence_length < 4:
            raise DataError(f"sequence_length must be at least 4, got {sequence_length}")
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.ids = tokenizer.special_ids
        self.max_new_tokens = min(self.options.max_new_tokens or sequence_length - 1,
                                  sequence_length - 1)
        self._translate = None

    @classmethod
    def named_datasets(cls) -> list[str]:
        return list(PAIRS)

    @classmethod
    def create(cls, data: DataSpec, options: Mapping[str, Any], *, run_dir=None,
               tokenizer=None) -> TranslationTask:
        parsed = cls.options_from(options)
        pairs = OnDemand(data.dataset, lambda name: cls._load(name, parsed))

        def learn() -> Tokenizer:
            sources, targets = pairs.get().split("train")
            return build_tokenizer(data.tokenizer, "\n".join([*sources, *targets]),
                                   vocab_size=data.vocab_size, special_tokens=SPECIALS)

        tokenizer = cls.resolve_tokenizer(run_dir, tokenizer, learn)
        return cls(pairs, tokenizer, data.sequence_length, **options)

    @staticmethod
    def _load(dataset: str, options: TranslationOptions) -> Examples:
        return load_pairs(dataset, source_column=options.source_column,
                          target_column=options.target_column)

    @property
    def pairs(self) -> Examples:
        return self._pairs.get()

    def split(self, split: str) -> tuple[list[str], list[str]]:
        """(sources, targets) of a split, in the task's direction."""
        first, second = self.pairs.split(split)
        return (second, first) if self._direction == "reversed" else (first, second)

    def describe_data(self) -> str:
        languages = PAIR_LANGUAGES.get(self.pairs.name)
        direction = ""
        if languages:
            source, target = languages[::-1] if self._direction == "reversed" else languages
            direction = f"{source} to {target}; "
        counts = ", ".join(f"{s} {len(v[0]):,}" for s, v in self.pairs.splits.items())
        return f"{self.pairs.name} ({direction}{counts}; {self.pairs.split_note})"

    def eval_splits(self) -> list[str]:
        return [s for s in ("validation", "test") if s in self.pairs.splits]

    # ----------------------------------------------------------------------------- data

    def steps_per_epoch(self, global_batch_size: int) -> int:
        return max(1, self._buckets().batches_per_epoch(global_batch_size))

    def tokens_per_step(self, global_batch_size: int) -> int:
        """Source and target positions of an average training batch (batches are bucketed)."""
        return round(2 * global_batch_size * self._buckets().mean_length)

    def _buckets(self) -> LengthBuckets:
        if getattr(self, "_length_buckets", None) is None:
            sources, targets = self.split("train")
            source_ids = encode_texts(self.tokenizer, sources)
            target_ids = encode_texts(self.tokenizer, targets)
            self._length_buckets = LengthBuckets(source_ids, target_ids, self.sequence_length)
        return self._length_buckets

    def encode_sources(self, texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Source texts [B] -> ids and mask [B, sequence_length] (longer sources are cut)."""
        return pad_rows(self.tokenizer.tf_tokenize(texts), self.sequence_length,
                        self.ids["pad"])

    def _batch(self, sources, targets) -> tuple[dict, tf.Tensor, tf.Tensor]:
        source_ids, source_mask = self.encode_sources(sources)
        target = self.tokenizer.tf_tokenize(targets)
        length, pad = self.sequence_length, self.ids["pad"]
        inputs, _ = pad_rows(target, length, pad, prefix=[self.ids["bos"]])
        outputs, weights = pad_rows(target, length, pad, suffix=[self.ids["eos"]])
        features = {"source_ids": source_ids, "source_mask": source_mask, "target_ids": inputs}
        return features, outputs, tf.cast(weights, tf.float32)

    def train_dataset(self, global_batch_size, *, seed, start_step, num_steps,
                      input_context=None) -> tf.data.Dataset:
        """Batches of pairs of similar length, padded to their bucket's length (8, 16, 24...):
        Tatoeba's sentences are ~10 tokens, so padding every batch to the longest wastes 2-3x.
        The schedule of an epoch is a function of (seed, epoch): resuming is exact."""
        layout = ReplicaLayout.of(global_batch_size, input_context)
        buckets = self._buckets()
        ids = self.ids

        def batches():
            for step in range(start_step, num_steps):
                yield buckets.batch(global_batch_size, seed, step, ids["pad"], ids["bos"],
                                    ids["eos"])

        spec = tf.TensorSpec([global_batch_size, None], tf.int32)
        signature = ({"source_ids": spec, "source_mask": spec, "target_ids": spec}, spec,
                     tf.TensorSpec([global_batch_size, None], tf.float32))
        ds = tf.data.Dataset.from_generator(batches, output_signature=signature)
        ds = ds.flat_map(lambda f, t, w: layout.elements((f, t, w)))
        return ds.prefetch(tf.data.AUTOTUNE)

    def eval_dataset(self, split, global_batch_size, *, max_batches=None,
                     input_context=None) -> tf.data.Dataset:
        layout = ReplicaLayout.of(global_batch_size, input_context)
        sources, targets = self.split(split)
        batches = math.ceil(len(sources) / global_batch_size)
        if max_batches is not None:
            batches = min(batches, max_batches)
        count, real = batches * global_batch_size, len(sources)
        padded = [list(side) + [side[0]] * max(0, count - real) for side in (sources, targets)]
        sources_t, targets_t = (tf.constant(side[:count]) for side in padded)
        real_rows = tf.constant((np.arange(count) < real).astype(np.float32))

        def batch(number):
            rows = number * global_batch_size + tf.range(global_batch_size, dtype=tf.int64)
            features, outputs, weights = self._batch(tf.gather(sources_t, rows),
                                                     tf.gather(targets_t, rows))
            weights *= tf.gather(real_rows, rows)[:, None]
            return layout.elements((features, outputs, weights))

        return tf.data.Dataset.range(batches).flat_map(batch)

    # ----------------------------------------------------------------------------- the model

    def build_model(self, backbone) -> keras.Model:
        return self.model_for(backbone, self.tokenizer.vocab_size, self.options)

    @classmethod
    def model_for(cls, backbone, vocab_size: int, options) -> Seq2SeqLM:
        if not hasattr(backbone, "encode"):
            raise DataError("translation needs a sequence-to-sequence backbone (an encoder and "
                            "a decoder, such as transformer_seq2seq_small)")
        model = Seq2SeqLM(backbone, vocab_size, tie_embeddings=options.tie_embeddings,
                          name=cls.name, dtype=backbone.dtype_policy)
        ones = tf.ones([1, 2], tf.int32)
        model({"source_ids": ones, "source_mask": ones, "target_ids": ones})
        return model

    # ----------------------------------------------------------------------------- training

    def loss(self, model, batch: Batch, carry, training: bool):
        features, targets, weights = batch
        logits = model(features, training=training)
        smoothing = self.options.label_smoothing if training else 0.0
        if smoothing:
            one_hot = tf.one_hot(targets, self.tokenizer.vocab_size)
            losses = keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True,
                                                           label_smoothing=smoothing)
        else:
            losses = keras.losses.sparse_categorical_crossentropy(targets, logits,
                                                                  from_logits=True)
        return tf.reduce_sum(losses * weights), tf.reduce_sum(weights), carry

    def eval_statistics(self, model, batch: Batch, carry):
        features, targets, weights = batch
        logits = model(features, training=False)
        losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        right = tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == targets, tf.float32)
        return {"loss_sum": tf.reduce_sum(losses * weights), "weight": tf.reduce_sum(weights),
                "correct": tf.reduce_sum(right * weights)}, carry

    def metrics(self, totals, split: str) -> dict[str, float]:
        weight = max(float(totals["weight"]), 1.0)
        loss = float(totals["loss_sum"]) / weight
        return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)),
                "token_accuracy": float(totals["correct"]) / weight}

    def extra_metrics(self, model, split: str) -> dict[str, float]:
        """sacreBLEU and chrF of `split` translated with beam search (and BLEU with greedy
        decoding beside it), against the split's references."""
        sources, references = self.split(split)
        if self.options.bleu_examples:
            sources = sources[: self.options.bleu_examples]
            references = references[: self.options.bleu_examples]
        beams = self.translate(model, sources, num_beams=self.options.num_beams)
        scores = translation_scores(beams, references)
        if self.options.num_beams > 1:
            greedy = self.translate(model, sources, num_beams=1)
            scores["bleu_greedy"] = translation_scores(greedy, references)["bleu"]
        return scores

    # ----------------------------------------------------------------------------- translating

    def translate(self, model, texts: Sequence[str], *, num_beams: int = 1,
                  batch_size: int = 64) -> list[str]:
        """`texts` translated, in batches, by a plain tf.function per beam width."""
        if self._translate is None or self._translate[0] is not model:
            self._translate = (model, {})
        functions = self._translate[1]
        if num_beams not in functions:
            functions[num_beams] = tf.function(
                lambda t: self.translate_texts(model, t, num_beams=num_beams)["translations"],
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
        out = []
        for start in range(0, len(texts), batch_size):
            chunk = tf.constant(list(texts[start : start + batch_size]))
            out += [t.decode("utf-8", "replace") for t in functions[num_beams](chunk).numpy()]
        return out

    def translate_texts(self, model, texts, *, num_beams: int, max_new_tokens=None) -> dict:
        """The graph of a translation: texts [B] -> translations [B], scores [B] (the sum of
        the translation's token log-probabilities, </s> included)."""
        source_ids, source_mask = self.encode_sources(texts)
        batch = tf.shape(source_ids)[0]
        max_new = max_new_tokens if max_new_tokens is not None else self.max_new_tokens
        conditioned = model.conditioned(model.encode(source_ids, source_mask), source_mask)
        new_ids, lengths, scores = generate(
            conditioned, tf.fill([batch, 1], self.ids["bos"]), tf.ones([batch], tf.int32),
            max_new_tokens=max_new, num_beams=num_beams, stop_token_ids=(self.ids["eos"],),
            length_penalty=self.options.length_penalty if num_beams > 1 else 0.0,
            return_scores=True,
        )
        ended = tf.gather(new_ids, tf.maximum(lengths - 1, 0), batch_dims=1) == self.ids["eos"]
        lengths -= tf.cast(ended & (lengths > 0), tf.int32)  # </s> is not text
        text = self.tokenizer.tf_detokenize(tf.RaggedTensor.from_tensor(new_ids, lengths=lengths))
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        return {"translations": text, "scores": scores}

    # ----------------------------------------------------------------------------- serving

    def serving_signatures(self, model, decoding=None, limits=None):
        return serving.translation_signatures(self, model, limits or ServingLimits())

    def warmup_requests(self):
        return serving.warmup_requests(self.options.num_beams)


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """sacreBLEU (13a tokenization, as sacrebleu reports by default) and chrF, in percent."""
    import sacrebleu

    return {"bleu": sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score,
            "chrf": sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score}


def _direction(dataset: str, options: TranslationOptions) -> str:
    """"forward" (the dataset's column order) or "reversed"; unknown codes are a DataError."""
    wanted = (options.source_lang, options.target_lang)
    if wanted == (None, None):
        return "forward"
    languages = PAIR_LANGUAGES.get(dataset)
    if languages is None:
        raise DataError(f"{dataset}: its languages are not known; choose the direction with "
                        "--set source_column=... --set target_column=... instead")
    for code in wanted:
        if code is not None and code not in languages:
            raise DataError(f"unknown language code {code!r} for {dataset}; it has "
                            f"{', '.join(languages)}")
    if wanted in (languages, (languages[0], None), (None, languages[1])):
        return "forward"
    if wanted in (languages[::-1], (languages[1], None), (None, languages[0])):
        return "reversed"
    raise DataError(f"source_lang and target_lang must differ, got {wanted}")
