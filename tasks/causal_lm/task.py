"""Causal language modeling: predict token t+1 from tokens <= t."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasks.catalog import BUILT_IN_TASKS
from tasks.causal_lm import serving
from tasks.causal_lm.model import CausalLM
from tasks.data import Corpus, DataError, Tokenizer, build_tokenizer, load_corpus
from tasks.decoding import SamplingConfig, generate_tokens
from tasks.replicas import ReplicaLayout
from tasks.task import Batch, DataSpec, KerasLoop, OnDemand, Task


@dataclasses.dataclass(frozen=True)
class LanguageModelingOptions:
    """The causal-LM task's settings (`--set key=value`).

    Attributes:
        tie_embeddings: the head is the transposed token embedding (else a Dense layer).
        head_bias: the untied head has a bias (Zaremba's softmax layer does, GPT's none).
        stateful: read text as contiguous streams. Recurrent models train with truncated
            BPTT, their state carried from one batch into the next and reset each epoch, and
            evaluate one stream per replica; counted models are always read this way.
        sample_length: tokens of text sampled at the end of a run.
        sample_prompt: the text that sample continues.
    """

    tie_embeddings: bool = True
    head_bias: bool = False
    stateful: bool = False
    sample_length: int = 200
    sample_prompt: str = "\n"


class LanguageModelingTask(Task):
    """Next-token prediction over a tokenized corpus.

    Training batches are random windows (as nanoGPT samples them) drawn with a stateless RNG keyed
    by (seed, step): the data position is the step number, so resuming at step k yields exactly the
    batches an uninterrupted run would have seen, on any number of replicas.

    Evaluation walks the split in non-overlapping windows; the last partial window is dropped and
    padding windows added to fill the last batch carry weight 0.

    With `stateful=True` (truncated backpropagation through time, as Zaremba et al. train LSTMs)
    the split is cut into `batch` contiguous streams, one per batch row, and step i of an epoch
    reads the i-th window of every stream, so a recurrent model can carry its state from one batch
    into the next. Evaluation then reads one stream per replica, scoring every token.

    The corpus is read on first use: a run can be exported or served without it.

    Example:

        task = LanguageModelingTask("tiny_shakespeare", tokenizer, sequence_length=64)
        ds = task.train_dataset(12, seed=0, start_step=0, num_steps=100)
    """

    name = "causal_lm"
    description = BUILT_IN_TASKS["causal_lm"].description
    Options = LanguageModelingOptions

    def __init__(
        self,
        corpus: Corpus | str | OnDemand[Corpus],
        tokenizer: Tokenizer,
        sequence_length: int,
        **options: Any,
    ):
        if sequence_length < 1:
            raise DataError(f"sequence_length must be positive, got {sequence_length}")
        self._corpus = OnDemand(corpus, load_corpus)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.options = self.options_from(options)
        self._tokens: dict[str, np.ndarray] = {}

    @classmethod
    def create(
        cls,
        data: DataSpec,
        options: Mapping[str, Any],
        *,
        run_dir: str | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> LanguageModelingTask:
        corpus = OnDemand(data.dataset, load_corpus)
        tokenizer = cls.resolve_tokenizer(run_dir, tokenizer, lambda: build_tokenizer(
            data.tokenizer, corpus.get().split("train"), vocab_size=data.vocab_size))
        return cls(corpus, tokenizer, data.sequence_length, **options)

    @property
    def corpus(self) -> Corpus:
        return self._corpus.get()

    @property
    def stateful(self) -> bool:
        return self.options.stateful

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def tokens(self, split: str) -> np.ndarray:
        """The split's token ids (encoded once, then cached)."""
        if split not in self._tokens:
            ids = np.asarray(self.tokenizer.encode(self.corpus.split(split)), dtype=np.int32)
            if len(ids) < self.sequence_length + 1:
                raise DataError(
                    f"{self.corpus.name}/{split}: {len(ids)} tokens, fewer than one window of "
                    f"{self.sequence_length + 1}; use more text or a shorter sequence_length"
                )
            self._tokens[split] = ids
        return self._tokens[split]

    # ----------------------------------------------------------------------------- data

    def steps_per_epoch(self, global_batch_size: int) -> int:
        """Steps that show the model as many tokens as the training split holds."""
        if self.stateful:
            stream = len(self.tokens("train")) // global_batch_size
            return max(1, (stream - 1) // self.sequence_length)
        windows = (len(self.tokens("train")) - 1) // self.sequence_length
        return max(1, windows // global_batch_size)

    def tokens_per_step(self, global_batch_size: int) -> int:
        return global_batch_size * self.sequence_length

    def describe_data(self) -> str:
        return f"{self.corpus.name} ({self.corpus.source or 'generated'})"

    def eval_splits(self) -> list[str]:
        return [s for s in ("validation", "test", "train") if s in self.corpus.splits]

    def train_dataset(
        self,
        global_batch_size: int,
        *,
        seed: int,
        start_step: int,
        num_steps: int,
        input_context: tf.distribute.InputContext | None = None,
    ) -> tf.data.Dataset:
        layout = ReplicaLayout.of(global_batch_size, input_context)
        if self.stateful:
            windows = self._stream_windows(layout)
        else:
            windows = self._random_windows(layout, seed)

        def batches_for_step(step):
            # [local replicas, per-replica batch, length + 1] -> one element per replica.
            window, reset = windows(step)
            features = {"token_ids": window[:, :, :-1]}
            if self.stateful:
                features["reset"] = tf.fill([layout.local], reset)
            weights = tf.ones(tf.shape(window[:, :, 1:]), tf.float32)
            return tf.data.Dataset.from_tensor_slices((features, window[:, :, 1:], weights))

        ds = tf.data.Dataset.range(start_step, num_steps).flat_map(batches_for_step)
        return ds.prefetch(tf.data.AUTOTUNE)

    def _random_windows(self, layout: ReplicaLayout, seed: int):
        """step -> this pipeline's rows of random windows [local, per_replica, length + 1]."""
        tokens = tf.constant(self.tokens("train"))
        length = self.sequence_length
        max_offset = int(tokens.shape[0]) - length

        def windows(step):
            offsets = tf.random.stateless_uniform(
                [layout.global_batch], seed=tf.stack([tf.constant(seed, tf.int64), step]),
                minval=0, maxval=max_offset, dtype=tf.int64,
            )
            window = tf.gather(tokens, offsets[:, None] + tf.range(length + 1, dtype=tf.int64))
            # Replica r of the whole job always gets rows [r*b, (r+1)*b) of the global batch, so
            # the same global batch is seen whatever the number of replicas.
            return layout.mine(window), tf.constant(False)

        return windows

    def _stream_windows(self, layout: ReplicaLayout):
        """step -> the step's window of every row's contiguous stream, and whether it starts an
        epoch (a recurrent model's carried state is reset there, as Zaremba et al. do)."""
        length = self.sequence_length
        ids = self.tokens("train")
        stream = len(ids) // layout.global_batch
        streams = layout.mine(ids[: stream * layout.global_batch].reshape(-1, stream))
        per_epoch = self.steps_per_epoch(layout.global_batch)

        def windows(step):
            start = (step % per_epoch) * length
            return streams[:, :, start : start + length + 1], tf.equal(step % per_epoch, 0)

        return windows

    def eval_batch_size(self, train_batch_size: int, replicas: int) -> int:
        if self.stateful:
            return replicas  # one contiguous stream per replica, state carried throughout
        return super().eval_batch_size(train_batch_size, replicas)

    def eval_dataset(
        self,
        split: str,
        global_batch_size: int,
        *,
        max_batches: int | None = None,
        input_context: tf.distribute.InputContext | None = None,
    ) -> tf.data.Dataset:
        layout = ReplicaLayout.of(global_batch_size, input_context)
        ids = self.tokens(split)
        if self.stateful:
            return self._stream_eval_dataset(ids, layout, max_batches)
        length = self.sequence_length
        count = (len(ids) - 1) // length
        inputs = ids[: count * length].reshape(count, length)
        targets = ids[1 : count * length + 1].reshape(count, length)
        weights = np.ones((count, length), np.float32)
        batches = math.ceil(count / global_batch_size)
        if max_batches is not None:
            batches = min(batches, max_batches)
        padded = batches * global_batch_size

        def fit(a: np.ndarray) -> np.ndarray:
            """[windows, length] -> this pipeline's replica batches, batch after batch."""
            a = np.concatenate([a[:padded], np.zeros((padded - len(a[:padded]), length), a.dtype)])
            a = a.reshape(batches, layout.replicas, layout.per_replica, length)
            a = a[:, layout.pipeline * layout.local : (layout.pipeline + 1) * layout.local]
            return a.reshape(-1, layout.per_replica, length)

        features = {"token_ids": fit(inputs)}
        return tf.data.Dataset.from_tensor_slices((features, fit(targets), fit(weights)))

    def _stream_eval_dataset(
        self, ids: np.ndarray, layout: ReplicaLayout, max_batches: int | None
    ) -> tf.data.Dataset:
        """One contiguous stream per replica, every token scored; the tail is weight-0 padding."""
        length, replicas = self.sequence_length, layout.replicas
        stream = (len(ids) - 1) // replicas
        batches = math.ceil(stream / length)
        if max_batches is not None:
            batches = min(batches, max_batches)
        padded = batches * length

        def streams(rows: np.ndarray) -> np.ndarray:
            rows = np.pad(rows[:, :padded], [(0, 0), (0, max(0, padded - rows.shape[1]))])
            rows = rows[layout.pipeline * layout.local : (layout.pipeline + 1) * layout.local]
            # [replicas, batches, length] -> [batches * local replicas, 1, length]
            return rows.reshape(layout.local, batches, length).transpose(1, 0, 2).reshape(
                -1, 1, length
            )

        inputs = ids[: stream * replicas].reshape(replicas, stream)
        targets = ids[1 : stream * replicas + 1].reshape(replicas, stream)
        weights = np.zeros((replicas, padded), np.float32)
        weights[:, : min(stream, padded)] = 1.0
        features = {"token_ids": streams(inputs)}
        return tf.data.Dataset.from_tensor_slices((features, streams(targets), streams(weights)))

    # ----------------------------------------------------------------------------- the model

    def build_model(self, backbone: keras.Model) -> keras.Model:
        return self.model_for(backbone, self.vocab_size, self.options)

    @classmethod
    def model_for(
        cls, backbone: keras.Model, vocab_size: int, options: LanguageModelingOptions
    ) -> CausalLM:
        """A built CausalLM on `backbone` (one [1, 1] id: any length works afterwards)."""
        if not getattr(backbone, "causal", True):
            raise DataError("causal_lm needs a causal backbone (a GPT or an LSTM); this one "
                            "sees both sides (an encoder: train it with masked_lm)")
        model = CausalLM(
            backbone,
            vocab_size,
            tie_embeddings=options.tie_embeddings,
            head_bias=options.head_bias,
            dtype=backbone.dtype_policy,
            name=cls.name,
        )
        model(tf.zeros((1, 1), tf.int32))
        return model

    # ----------------------------------------------------------------------------- training

    def initial_carry(self, model: keras.Model, batch_size: int) -> Any:
        if not self.stateful:
            return ()
        if not hasattr(model, "call_with_state"):
            raise DataError("stateful training needs a recurrent model (an LSTM backbone)")
        return model.initial_decoding_state(batch_size)

    def _logits(self, model, features, carry, training: bool):
        if not self.stateful:
            return model(features["token_ids"], training=training), carry
        if "reset" in features:  # a new epoch starts its streams from zero state
            carry = tf.nest.map_structure(
                lambda s: tf.where(features["reset"], tf.zeros_like(s), s), carry
            )
        return model.call_with_state(features["token_ids"], carry, training=training)

    def token_losses(self, targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        return keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)

    def loss(self, model, batch: Batch, carry, training: bool):
        features, targets, weights = batch
        logits, carry = self._logits(model, features, carry, training)
        losses = self.token_losses(targets, logits)
        return tf.reduce_sum(losses * weights), tf.reduce_sum(weights), carry

    def keras_loop(self) -> KerasLoop:
        """Texts in (no labels: each text predicts its own next tokens, the first
        sequence_length of them); loss and accuracy over real tokens only."""
        length = self.sequence_length

        def preprocess(x, y=None, sample_weight=None):
            if y is not None:
                raise ValueError("a language model learns from texts alone: give no y")
            ids = self.tokenizer.tf_tokenize(x)[:, : length + 1]
            dense = ids.to_tensor(0, shape=[None, length + 1])
            real = tf.sequence_mask(ids.row_lengths() - 1, length, dtype=tf.float32)
            return dense[:, :-1], dense[:, 1:], real

        return KerasLoop.for_classes(preprocess)

    # ----------------------------------------------------------------------------- evaluation

    def eval_statistics(self, model, batch: Batch, carry):
        loss_sum, weight, carry = self.loss(model, batch, carry, training=False)
        return {"loss_sum": loss_sum, "weight": weight}, carry

    def metrics(self, totals: Mapping[str, np.ndarray], split: str) -> dict[str, float]:
        """Loss in nats per token, perplexity, and bits per character of the split's text.

        Bits per character is the total code length over the number of characters, so it compares
        models across tokenizers; for the char tokenizer it is simply loss / ln 2.
        """
        return self.metrics_of(float(totals["loss_sum"]) / max(float(totals["weight"]), 1.0), split)

    def metrics_of(self, mean_loss: float, split: str) -> dict[str, float]:
        """The metrics of a split whose mean per-token loss is `mean_loss`."""
        chars = len(self.corpus.split(split))
        tokens_per_char = len(self.tokens(split)) / max(chars, 1)
        return {
            "loss": mean_loss,
            "perplexity": math.exp(min(mean_loss, 700.0)),
            "bits_per_char": mean_loss / math.log(2) * tokens_per_char,
        }

    # ----------------------------------------------------------------------------- reporting

    def report(self, model: keras.Model, *, jit_compile: bool = False) -> dict[str, str]:
        """A text sample: `sample_length` tokens after `sample_prompt`, sampled as nanoGPT's
        sample.py samples (temperature 0.8, top-k 200; greedy text loops) with a fixed seed,
        and ended on a whole word (a word cut short reads as a typo)."""
        if self.options.sample_length <= 0:
            return {}
        text = self.sample(model, self.options.sample_length, jit_compile=jit_compile)
        return {"sample": ending_on_a_word(text)}

    def sample(self, model: keras.Model, length: int, *, jit_compile: bool = False) -> str:
        ids = self.tokenizer.encode(self.options.sample_prompt)
        if len(ids) == 0:
            ids = np.zeros([1], np.int32)
        out = generate_tokens(model, ids[None, :], length, SamplingConfig(), jit_compile)
        return self.tokenizer.decode(out[0].tolist())

    # ----------------------------------------------------------------------------- serving

    def serving_signatures(self, model: keras.Model, decoding: SamplingConfig, limits=None):
        # Scoring reads a text as evaluation reads a split: windows, or one stream.
        window = None if self.stateful else self.sequence_length
        return serving.lm_signatures(model, self.tokenizer, sampling=decoding, score_window=window,
                             limits=limits)

    def warmup_requests(self) -> list[tuple[str, dict[str, np.ndarray]]]:
        return serving.warmup_requests()


def ending_on_a_word(text: str) -> str:
    """`text` up to its last whitespace, unless it ends on one or has none."""
    if not text or text[-1].isspace():
        return text
    cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
    return text[:cut] if cut > 0 else text
