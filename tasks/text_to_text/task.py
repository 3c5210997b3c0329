"""The text-to-text core that translation and summarization configure: source text in, target
text out.

A subclass says where its pairs come from (`load_examples`), how decoded text is scored
(`score`) and what its signature is called; everything else is here. One vocabulary
(SentencePiece or WordPiece, with <pad>, <s> and </s>) is learned on both sides of the training
pairs. Training is teacher-forced with label smoothing (0.1, as Model Garden's Transformer) on
length-bucketed batches keyed by step; evaluation reports the per-token loss and accuracy, and,
once a run ends and in `zoo.evaluate`, the subclass's scores of beam-search outputs of the
whole split. The backbone picks the layout (`layouts.py`): an encoder-decoder, or one causal
sequence `source <s> target </s>` for a GPT.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from tasks.data import DataError, Examples, Tokenizer, build_tokenizer
from tasks.progress import ItemProgress
from tasks.replicas import ReplicaLayout
from tasks.request_checks import ServingLimits
from tasks.task import Batch, DataSpec, KerasLoop, OnDemand, Task
from tasks.text_batches import encode_texts
from tasks.text_to_text import serving
from tasks.text_to_text.layouts import DecoderOnly, EncoderDecoder, Lengths, layout_for
from tasks.text_to_text.length_buckets import LengthBuckets

SPECIALS = ("pad", "bos", "eos")


@dataclasses.dataclass(frozen=True)
class TextToTextOptions:
    """Settings every text-to-text task has (`--set key=value`).

    Attributes:
        source_column, target_column: where a file keeps the two sides (names or indices).
        label_smoothing: of the training targets (Szegedy et al. 2016).
        num_beams: beam width for the scores and the export's default (1: greedy).
        length_penalty: alpha of GNMT's length normalisation for beams (Model Garden: 0.6).
        max_new_tokens: the longest output, in tokens (None: as long as the model allows).
        min_new_tokens: no </s> before this many tokens.
        no_repeat_ngram_size: n > 0: no n-gram appears twice in an output.
        max_target_tokens: targets are cut to this many tokens, and batches pad the target
            side to it (None: as long as the source, translation's way).
        tie_embeddings: the output layer is the decoder's token embedding.
        copy_attention: an encoder-decoder may also copy source tokens (See et al. 2017's
            pointer-generator, `copy_attention.py`), for names and numbers it cannot spell.
    """

    source_column: Any = None
    target_column: Any = None
    label_smoothing: float = 0.1
    num_beams: int = 4
    length_penalty: float = 0.6
    max_new_tokens: int | None = None
    min_new_tokens: int = 0
    no_repeat_ngram_size: int = 0
    max_target_tokens: int | None = None
    tie_embeddings: bool = True
    copy_attention: bool = False


class TextToTextTask(Task):
    """Pairs of texts, a model that writes the second from the first, and its decoding."""

    Options: ClassVar[type] = TextToTextOptions
    output_name: ClassVar[str]  # the signatures' output ("translations", "summaries")
    verb: ClassVar[str]  # the signature with every decoding input ("translate", "summarize")
    warmup_text: ClassVar[str]
    max_beams: ClassVar[int] = 8  # the export holds one decoding graph per beam width
    ngram_sizes: ClassVar[tuple[int, ...]] = ()  # no_repeat_ngram_size a request may choose
    refuse_long_sources: ClassVar[bool] = True  # False: a long source is cut (an email)
    examples_option: ClassVar[str | None] = None  # the option capping how many are scored

    def __init__(self, pairs: Examples | str | OnDemand[Examples], tokenizer: Tokenizer,
                 sequence_length: int, *, backbone: type | None = None,
                 run_dir: str | None = None, **options: Any):
        self.options = self.options_from(options)
        self._pairs = OnDemand(pairs, lambda name: self.load_examples(name, self.options))
        if not 1 <= self.options.num_beams <= self.max_beams:
            raise DataError(f"num_beams must be in 1..{self.max_beams}, got "
                            f"{self.options.num_beams}")
        missing = [n for n in SPECIALS if n not in tokenizer.special_ids]
        if missing:
            raise DataError(f"{self.name} needs <pad>, <s> and </s> tokens; this tokenizer lacks "
                            f"{', '.join(missing)}")
        if sequence_length < 4:
            raise DataError(f"sequence_length must be at least 4, got {sequence_length}")
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.ids = tokenizer.special_ids
        self.run_dir = run_dir  # where evaluations write their predictions
        self.layout = None
        if backbone is not None:
            self.use_layout_of(backbone)
        self._decoders = None

    @classmethod
    def create(cls, data: DataSpec, options: Mapping[str, Any], *, run_dir=None,
               tokenizer=None) -> TextToTextTask:
        parsed = cls.options_from(options)
        pairs = OnDemand(data.dataset, lambda name: cls.load_examples(name, parsed))

        def learn() -> Tokenizer:
            sources, targets = pairs.get().split("train")
            return build_tokenizer(data.tokenizer, "\n".join([*sources, *targets]),
                                   vocab_size=data.vocab_size, special_tokens=SPECIALS)

        tokenizer = cls.resolve_tokenizer(run_dir, tokenizer, learn)
        return cls(pairs, tokenizer, data.sequence_length, backbone=data.backbone,
                   run_dir=run_dir, **options)

    @classmethod
    def load_examples(cls, dataset: str, options: Any) -> Examples:
        """The pairs of `dataset` (a name or a path)."""
        raise NotImplementedError

    def score(self, outputs: Sequence[str], split: str, count: int, *,
              write: bool = True) -> dict[str, float]:
        """The task's scores of `outputs`, the decoded first `count` sources of `split`
        (`write`: also keep the outputs in the run directory, where the task does)."""
        raise NotImplementedError

    @property
    def pairs(self) -> Examples:
        return self._pairs.get()

    def split(self, split: str) -> tuple[list[str], list[str]]:
        """(sources, targets) of a split."""
        return self.pairs.split(split)

    def eval_splits(self) -> list[str]:
        return [s for s in ("validation", "test") if s in self.pairs.splits]

    # ----------------------------------------------------------------------------- layout

    def use_layout_of(self, backbone) -> None:
        """Lays pairs out for `backbone` (a class or a built model), with its token budgets."""
        kind = type(layout_for(backbone, self.ids, self._lengths(EncoderDecoder), self.name))
        if self.layout is None or type(self.layout) is not kind:
            self.layout = kind(self.ids, self._lengths(kind))
            self._length_buckets = None

    def _lengths(self, kind) -> Lengths:
        length, cap = self.sequence_length, self.options.max_target_tokens
        if kind is DecoderOnly:  # `source <s> target </s>` in `length` positions
            target = cap or length // 2 - 1
            if target > length - 4:
                raise DataError(f"max_target_tokens={target} leaves no room for a source in "
                                f"{length} positions")
            return Lengths(length - target - 2, target, length, shared=False)
        target = min(cap or length - 1, length - 2)
        return Lengths(length, target, length, shared=cap is None)

    def _layout(self):
        if self.layout is None:  # a task made without knowing its backbone: the usual one
            self.layout = EncoderDecoder(self.ids, self._lengths(EncoderDecoder))
        return self.layout

    @property
    def max_new_tokens(self) -> int:
        """The export's and the scores' longest output."""
        return min(self.options.max_new_tokens or self.new_tokens_cap, self.new_tokens_cap)

    @property
    def new_tokens_cap(self) -> int:
        return min(self._layout().lengths.target + 1, self.sequence_length - 1)

    # ----------------------------------------------------------------------------- data

    def steps_per_epoch(self, global_batch_size: int) -> int:
        return max(1, self._buckets().batches_per_epoch(global_batch_size))

    def tokens_per_step(self, global_batch_size: int) -> int:
        """Positions of an average training batch (batches are bucketed)."""
        target = self._layout().lengths.target + 1
        if isinstance(self._layout(), DecoderOnly):
            target = 0
        elif self._layout().lengths.shared:
            target = self._buckets().mean_length
        return round(global_batch_size * (self._buckets().mean_length + target))

    def train_ids(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every training pair as token ids (computed once)."""
        if getattr(self, "_train_ids", None) is None:
            sources, targets = self.split("train")
            self._train_ids = (encode_texts(self.tokenizer, sources),
                               encode_texts(self.tokenizer, targets))
        return self._train_ids

    def _buckets(self) -> LengthBuckets:
        if getattr(self, "_length_buckets", None) is None:
            layout = self._layout()
            widths = [layout.example_width(len(s), len(t)) for s, t in zip(*self.train_ids())]
            self._length_buckets = LengthBuckets(np.array(widths), self.sequence_length)
        return self._length_buckets

    def train_dataset(self, global_batch_size, *, seed, start_step, num_steps,
                      input_context=None) -> tf.data.Dataset:
        """Batches of pairs of similar length, padded to their bucket's length (8, 16, 24...).
        The schedule of an epoch is a function of (seed, epoch): resuming is exact."""
        replicas = ReplicaLayout.of(global_batch_size, input_context)
        buckets, layout = self._buckets(), self._layout()
        sources, targets = self.train_ids()

        def batches():
            for step in range(start_step, num_steps):
                width, indices = buckets.step(global_batch_size, seed, step)
                yield layout.rows([(sources[i], targets[i]) for i in indices], width)

        spec = tf.TensorSpec([global_batch_size, None], tf.int32)
        signature = (layout.feature_spec(global_batch_size), spec,
                     tf.TensorSpec([global_batch_size, None], tf.float32))
        ds = tf.data.Dataset.from_generator(batches, output_signature=signature)
        ds = ds.flat_map(lambda f, t, w: replicas.elements((f, t, w)))
        return ds.prefetch(tf.data.AUTOTUNE)

    def eval_dataset(self, split, global_batch_size, *, max_batches=None,
                     input_context=None) -> tf.data.Dataset:
        replicas = ReplicaLayout.of(global_batch_size, input_context)
        sources, targets = self.split(split)
        batches = math.ceil(len(sources) / global_batch_size)
        if max_batches is not None:
            batches = min(batches, max_batches)
        count, real = batches * global_batch_size, len(sources)
        padded = [list(side) + [side[0]] * max(0, count - real) for side in (sources, targets)]
        sources_t, targets_t = (tf.constant(side[:count]) for side in padded)
        real_rows = tf.constant((np.arange(count) < real).astype(np.float32))
        layout = self._layout()

        def batch(number):
            rows = number * global_batch_size + tf.range(global_batch_size, dtype=tf.int64)
            features, outputs, weights = layout.graph_batch(
                self.tokenizer.tf_tokenize(tf.gather(sources_t, rows)),
                self.tokenizer.tf_tokenize(tf.gather(targets_t, rows)))
            weights *= tf.gather(real_rows, rows)[:, None]
            return replicas.elements((features, outputs, weights))

        return tf.data.Dataset.range(batches).flat_map(batch)

    # ----------------------------------------------------------------------------- the model

    def build_model(self, backbone) -> keras.Model:
        self.use_layout_of(backbone)
        return self.layout.model(backbone, self.tokenizer.vocab_size,
                                 self.options.tie_embeddings, self.name,
                                 copy_attention=self.options.copy_attention)

    @classmethod
    def model_for(cls, backbone, vocab_size: int, options) -> keras.Model:
        ids = {"pad": 0, "bos": 1, "eos": 2}
        length = backbone.sequence_length
        layout = layout_for(backbone, ids, Lengths(length, length - 1, length, True), cls.name)
        return layout.model(backbone, vocab_size, options.tie_embeddings, cls.name,
                            copy_attention=options.copy_attention)

    def keras_loop(self) -> KerasLoop:
        """Sources as x and targets as y, teacher-forced as in training; `predict` too needs
        the targets (decoding is the pipeline's `translate` or `summarize`)."""
        layout = self._layout()

        def preprocess(x, y=None, sample_weight=None):
            if y is None:
                raise ValueError(f"{self.name}: give targets as y (teacher forcing); decode "
                                 f"with the pipeline's {self.verb}()")
            features, outputs, weights = layout.graph_batch(self.tokenizer.tf_tokenize(x),
                                                            self.tokenizer.tf_tokenize(y))
            return features, outputs, weights

        return KerasLoop.for_classes(preprocess)

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

    def scored_sources(self, split: str) -> list[str]:
        """The sources of `split` that the scores decode (the first `examples_option`)."""
        sources = self.split(split)[0]
        most = getattr(self.options, self.examples_option) if self.examples_option else None
        return sources[:most] if most else sources

    # ----------------------------------------------------------------------------- decoding

    def decode(self, model, texts: Sequence[str], *, num_beams: int = 1, batch_size: int = 64,
               progress: bool = False, **decoding: Any) -> list[str]:
        """`texts` decoded in batches by a plain tf.function per (beam width, settings);
        `progress` shows how far it is (`tasks.progress`)."""
        if self._decoders is None or self._decoders[0] is not model:
            self._decoders = (model, {})
        functions = self._decoders[1]
        key = (num_beams, tuple(sorted(decoding.items())))
        if key not in functions:
            functions[key] = tf.function(
                lambda t: self.decode_texts(model, t, num_beams=num_beams,
                                            **decoding)[self.output_name],
                input_signature=[tf.TensorSpec([None], tf.string)], autograph=False,
            )
        out: list[str] = []
        how = f"{num_beams} beams" if num_beams > 1 else "greedy"
        shown = ItemProgress(len(texts), f"texts decoded ({how})") if progress else None
        for start in range(0, len(texts), batch_size):
            chunk = tf.constant(list(texts[start : start + batch_size]))
            out += [t.decode("utf-8", "replace") for t in functions[key](chunk).numpy()]
            if shown:
                shown.update(len(out))
        return out

    def decode_texts(self, model, texts, *, num_beams, max_new_tokens=None,
                     no_repeat_ngram_size=None) -> dict:
        """The graph of decoding: texts [B] -> outputs [B], scores [B] (the sum of the output's
        token log-probabilities, </s> included). `num_beams` and `no_repeat_ngram_size` may be
        scalar tensors (a serving request's): one graph decodes them all."""
        ngram = self.options.no_repeat_ngram_size if no_repeat_ngram_size is None else (
            no_repeat_ngram_size)
        most = max_new_tokens if max_new_tokens is not None else self.max_new_tokens
        new_ids, lengths, scores = self._layout().generate(
            model, self.tokenizer.tf_tokenize(texts), max_new_tokens=most,
            min_new_tokens=tf.minimum(self.options.min_new_tokens, most),
            num_beams=num_beams, no_repeat_ngram_size=ngram, stop_token_ids=(self.ids["eos"],),
            longest_ngram=max(self.ngram_sizes, default=0),
            # (with one beam there is nothing to rank)
            length_penalty=self.options.length_penalty,
        )
        ended = tf.gather(new_ids, tf.maximum(lengths - 1, 0), batch_dims=1) == self.ids["eos"]
        lengths -= tf.cast(ended & (lengths > 0), tf.int32)  # </s> is not text
        text = self.tokenizer.tf_detokenize(tf.RaggedTensor.from_tensor(new_ids, lengths=lengths))
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        return {self.output_name: text, "scores": scores}

    def extra_metrics(self, model, split: str) -> dict[str, float]:
        """The task's scores of `split` decoded with beam search (and greedy beside it)."""
        sources = self.scored_sources(split)
        passes = f"{self.options.num_beams} beams, then greedy" if (
            self.options.num_beams > 1) else "greedy"
        cap = f"--set {self.examples_option}=N" if self.examples_option else "fewer examples"
        print(f"Scoring {len(sources):,} {split} texts ({passes}; {cap} decodes fewer)",
              flush=True)
        outputs = self.decode(model, sources, num_beams=self.options.num_beams, progress=True)
        scores = self.score(outputs, split, len(sources))
        if self.options.num_beams > 1:
            greedy = self.decode(model, sources, num_beams=1, progress=True)
            greedy = self.score(greedy, split, len(sources), write=False)
            scores.update({f"{k}_greedy": v for k, v in greedy.items() if k in self.greedy_keys})
        return scores

    greedy_keys: ClassVar[tuple[str, ...]] = ()  # scores also reported for greedy decoding

    # ----------------------------------------------------------------------------- serving

    def serving_signatures(self, model, decoding=None, limits=None):
        return serving.text_to_text_signatures(self, model, limits or ServingLimits())

    def warmup_requests(self):
        return serving.warmup_requests(self)
