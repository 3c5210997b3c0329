"""Causal language modeling: predict token t+1 from tokens <= t."""

from __future__ import annotations

import math
import os

import keras
import numpy as np
import tensorflow as tf

from tasks.base import Task
from tasks.data import Corpus, DataError, Tokenizer, build_tokenizer, load_corpus, load_tokenizer


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

    Example:

        task = LanguageModelingTask.from_names("tiny_shakespeare", "char", sequence_length=64)
        ds = task.train_dataset(12, seed=0, start_step=0, num_steps=100)
    """

    def __init__(
        self, corpus: Corpus, tokenizer: Tokenizer, sequence_length: int, stateful: bool = False
    ):
        if sequence_length < 1:
            raise DataError(f"sequence_length must be positive, got {sequence_length}")
        self.corpus = corpus
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.stateful = stateful
        self._tokens: dict[str, np.ndarray] = {}

    @classmethod
    def from_names(
        cls,
        dataset: str,
        tokenizer: str,
        *,
        sequence_length: int,
        vocab_size: int | None = None,
        tokenizer_dir: str | None = None,
        stateful: bool = False,
    ) -> LanguageModelingTask:
        """Loads `dataset` (a name or a path) and builds its tokenizer on the training split.

        With `tokenizer_dir` holding a saved tokenizer (a run being resumed or evaluated), that
        vocabulary is used instead of learning a new one.
        """
        corpus = load_corpus(dataset)
        if tokenizer_dir and os.path.isdir(tokenizer_dir) and os.listdir(tokenizer_dir):
            tok = load_tokenizer(tokenizer_dir)
        else:
            tok = build_tokenizer(tokenizer, corpus.split("train"), vocab_size=vocab_size)
        return cls(corpus, tok, sequence_length, stateful=stateful)

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

    def steps_per_epoch(self, global_batch_size: int) -> int:
        """Steps that show the model as many tokens as the training split holds."""
        if self.stateful:
            stream = len(self.tokens("train")) // global_batch_size
            return max(1, (stream - 1) // self.sequence_length)
        windows = (len(self.tokens("train")) - 1) // self.sequence_length
        return max(1, windows // global_batch_size)

    def train_dataset(
        self,
        global_batch_size: int,
        *,
        seed: int,
        start_step: int,
        num_steps: int,
        input_context: tf.distribute.InputContext | None = None,
    ) -> tf.data.Dataset:
        if self.stateful:
            return self._stream_dataset(global_batch_size, start_step, num_steps, input_context)
        replicas, pipeline, pipelines = _replica_layout(global_batch_size, input_context)
        per_replica = global_batch_size // replicas
        local = replicas // pipelines
        tokens = tf.constant(self.tokens("train"))
        length = self.sequence_length
        max_offset = int(tokens.shape[0]) - length

        def windows_for_step(step):
            offsets = tf.random.stateless_uniform(
                [global_batch_size], seed=tf.stack([tf.constant(seed, tf.int64), step]),
                minval=0, maxval=max_offset, dtype=tf.int64,
            )
            window = tf.gather(tokens, offsets[:, None] + tf.range(length + 1, dtype=tf.int64))
            # Replica r of the whole job always gets rows [r*b, (r+1)*b) of the global batch, so
            # the same global batch is seen whatever the number of replicas.
            mine = tf.reshape(window, [replicas, per_replica, length + 1])
            mine = mine[pipeline * local : (pipeline + 1) * local]
            return tf.data.Dataset.from_tensor_slices((mine[:, :, :-1], mine[:, :, 1:]))

        ds = tf.data.Dataset.range(start_step, num_steps).flat_map(windows_for_step)
        return ds.prefetch(tf.data.AUTOTUNE)

    def _stream_dataset(
        self,
        global_batch_size: int,
        start_step: int,
        num_steps: int,
        input_context: tf.distribute.InputContext | None,
    ) -> tf.data.Dataset:
        replicas, pipeline, pipelines = _replica_layout(global_batch_size, input_context)
        per_replica = global_batch_size // replicas
        local = replicas // pipelines
        length = self.sequence_length
        ids = self.tokens("train")
        stream = len(ids) // global_batch_size
        streams = ids[: stream * global_batch_size].reshape(global_batch_size, stream)
        mine = streams.reshape(replicas, per_replica, stream)
        mine = tf.constant(mine[pipeline * local : (pipeline + 1) * local])
        per_epoch = self.steps_per_epoch(global_batch_size)

        def windows_for_step(step):
            start = (step % per_epoch) * length
            window = mine[:, :, start : start + length + 1]
            return tf.data.Dataset.from_tensor_slices((window[:, :, :-1], window[:, :, 1:]))

        ds = tf.data.Dataset.range(start_step, num_steps).flat_map(windows_for_step)
        return ds.prefetch(tf.data.AUTOTUNE)

    def eval_dataset(
        self,
        split: str,
        global_batch_size: int,
        *,
        max_batches: int | None = None,
        input_context: tf.distribute.InputContext | None = None,
    ) -> tf.data.Dataset:
        replicas, pipeline, pipelines = _replica_layout(global_batch_size, input_context)
        per_replica = global_batch_size // replicas
        local = replicas // pipelines
        length = self.sequence_length
        ids = self.tokens(split)
        if self.stateful:
            return self._stream_eval_dataset(ids, replicas, pipeline, local, max_batches)
        count = (len(ids) - 1) // length
        inputs = ids[: count * length].reshape(count, length)
        targets = ids[1 : count * length + 1].reshape(count, length)
        weights = np.ones((count, length), np.float32)
        batches = math.ceil(count / global_batch_size)
        if max_batches is not None:
            batches = min(batches, max_batches)
        padded = batches * global_batch_size

        def fit(a: np.ndarray) -> np.ndarray:
            a = a[:padded]
            pad = np.zeros((padded - len(a), length), a.dtype)
            a = np.concatenate([a, pad])
            a = a.reshape(batches, replicas, per_replica, length)
            return a[:, pipeline * local : (pipeline + 1) * local].reshape(-1, per_replica, length)

        return tf.data.Dataset.from_tensor_slices((fit(inputs), fit(targets), fit(weights)))

    def _stream_eval_dataset(
        self, ids: np.ndarray, replicas: int, pipeline: int, local: int, max_batches: int | None
    ) -> tf.data.Dataset:
        """One contiguous stream per replica, every token scored; the tail is weight-0 padding."""
        length = self.sequence_length
        stream = (len(ids) - 1) // replicas
        batches = math.ceil(stream / length)
        if max_batches is not None:
            batches = min(batches, max_batches)
        padded = batches * length

        def streams(offset: int) -> np.ndarray:
            rows = ids[offset : offset + stream * replicas].reshape(replicas, stream)
            rows = np.pad(rows[:, :padded], [(0, 0), (0, max(0, padded - stream))])
            rows = rows[pipeline * local : (pipeline + 1) * local]
            # [replicas, batches, length] -> [batches * local replicas, 1, length]
            return rows.reshape(local, batches, length).transpose(1, 0, 2).reshape(-1, 1, length)

        weights = np.zeros((replicas, padded), np.float32)
        weights[:, : min(stream, padded)] = 1.0
        weights = weights[pipeline * local : (pipeline + 1) * local]
        weights = weights.reshape(local, batches, length).transpose(1, 0, 2).reshape(-1, 1, length)
        return tf.data.Dataset.from_tensor_slices((streams(0), streams(1), weights))

    def token_losses(self, targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        return keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)

    def metrics(self, mean_loss: float, split: str) -> dict[str, float]:
        """Loss in nats per token, perplexity, and bits per character of the split's text.

        Bits per character is the total code length over the number of characters, so it compares
        models across tokenizers; for the char tokenizer it is simply loss / ln 2.
        """
        chars = len(self.corpus.split(split))
        tokens_per_char = len(self.tokens(split)) / max(chars, 1)
        return {
            "loss": mean_loss,
            "perplexity": math.exp(min(mean_loss, 700.0)),
            "bits_per_char": mean_loss / math.log(2) * tokens_per_char,
        }


def _replica_layout(
    global_batch_size: int, input_context: tf.distribute.InputContext | None
) -> tuple[int, int, int]:
    """(replicas in the job, this pipeline's index, number of pipelines)."""
    if input_context is None:
        return 1, 0, 1
    replicas = input_context.num_replicas_in_sync
    if global_batch_size % replicas:
        raise DataError(
            f"batch_size {global_batch_size} must be divisible by the {replicas} replicas"
        )
    return replicas, input_context.input_pipeline_id, input_context.num_input_pipelines
