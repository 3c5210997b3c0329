"""The toy task: random lower-case words, labelled 1 when the first letter is a vowel."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from tasks import Task
from tasks.data import DataError, build_tokenizer
from tasks.replicas import ReplicaLayout
from tasks.request_checks import ServingLimits
from tasks.text_batches import batch_indices, pad_rows
from tests.tasks.toy_task import serving
from tests.tasks.toy_task.model import FirstTokenClassifier

VOWELS = "aeiou"
SPLIT_SIZES = {"train": 2000, "validation": 256}


@dataclasses.dataclass(frozen=True)
class VowelStartOptions:
    word_length: int = 6


def words(split: str, length: int) -> tuple[list[str], np.ndarray]:
    """A split's words and labels, the same on every call (seeded by the split's name)."""
    rng = np.random.default_rng(sorted(SPLIT_SIZES).index(split))
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    texts = ["".join(rng.choice(letters, length)) for _ in range(SPLIT_SIZES[split])]
    return texts, np.array([t[0] in VOWELS for t in texts], np.int32)


class VowelStartTask(Task):
    name = "starts_with_vowel"
    description = "toy: does a word start with a vowel?"
    Options = VowelStartOptions

    def __init__(self, tokenizer, sequence_length: int, **options):
        self.options = self.options_from(options)
        self.tokenizer = tokenizer
        self.length = min(sequence_length, self.options.word_length)

    @classmethod
    def named_datasets(cls) -> list[str]:
        return ["random_words"]

    @classmethod
    def create(cls, data, options, *, run_dir=None, tokenizer=None):
        if data.dataset != "random_words":
            raise DataError(f"{cls.name} knows only random_words, not {data.dataset!r}")
        parsed = cls.options_from(options)
        tokenizer = cls.resolve_tokenizer(run_dir, tokenizer, lambda: build_tokenizer(
            data.tokenizer, " ".join(words("train", parsed.word_length)[0])))
        return cls(tokenizer, data.sequence_length, **options)

    def tokenize(self, texts):
        ids, _ = pad_rows(self.tokenizer.tf_tokenize(texts), self.length, 0)
        return ids

    def _batches(self, split, global_batch, indices_of, weights_of, input_context):
        layout = ReplicaLayout.of(global_batch, input_context)
        texts, labels = words(split, self.options.word_length)
        texts_t, labels_t = tf.constant(texts), tf.constant(labels)

        def batch(number):
            indices = indices_of(number)
            return layout.elements((self.tokenize(tf.gather(texts_t, indices)),
                                    tf.gather(labels_t, indices), weights_of(indices)))
        return batch

    def train_dataset(self, global_batch_size, *, seed, start_step, num_steps,
                      input_context=None):
        count = SPLIT_SIZES["train"]
        batch = self._batches(
            "train", global_batch_size,
            lambda step: batch_indices(count, global_batch_size, seed, step),
            lambda indices: tf.ones(tf.shape(indices), tf.float32), input_context)
        return tf.data.Dataset.range(start_step, num_steps).flat_map(batch)

    def eval_dataset(self, split, global_batch_size, *, max_batches=None, input_context=None):
        count = SPLIT_SIZES[split]
        batches = math.ceil(count / global_batch_size)
        if max_batches is not None:
            batches = min(batches, max_batches)

        def rows(number):
            return number * global_batch_size + tf.range(global_batch_size, dtype=tf.int64)

        batch = self._batches(
            split, global_batch_size, lambda number: tf.minimum(rows(number), count - 1),
            lambda indices: tf.ones(tf.shape(indices), tf.float32), input_context)

        def weighted(number):  # filler rows past the split's end count 0
            ds = batch(number)
            real = tf.cast(rows(number) < count, tf.float32)
            return ds.map(lambda x, y, w: (x, y, w * tf.reshape(real, tf.shape(w))))

        return tf.data.Dataset.range(batches).flat_map(weighted)

    def steps_per_epoch(self, global_batch_size):
        return max(1, SPLIT_SIZES["train"] // global_batch_size)

    def tokens_per_step(self, global_batch_size):
        return global_batch_size * self.length

    def eval_splits(self):
        return ["validation"]

    def build_model(self, backbone):
        return self.model_for(backbone, self.tokenizer.vocab_size, self.options)

    @classmethod
    def model_for(cls, backbone, vocab_size, options):
        if not getattr(backbone, "causal", False):
            raise DataError(f"{cls.name} reads the first position of a causal backbone")
        model = FirstTokenClassifier(backbone, name=cls.name, dtype=backbone.dtype_policy)
        model(tf.zeros([1, 2], tf.int32))
        return model

    def loss(self, model, batch, carry, training):
        ids, labels, weights = batch
        losses = keras.losses.sparse_categorical_crossentropy(
            labels, model(ids, training=training), from_logits=True)
        return tf.reduce_sum(losses * weights), tf.reduce_sum(weights), carry

    def eval_statistics(self, model, batch, carry):
        ids, labels, weights = batch
        logits = model(ids, training=False)
        losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        right = tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels, tf.float32)
        return {"loss_sum": tf.reduce_sum(losses * weights), "weight": tf.reduce_sum(weights),
                "correct": tf.reduce_sum(right * weights)}, carry

    def metrics(self, totals, split):
        weight = max(float(totals["weight"]), 1.0)
        return {"loss": float(totals["loss_sum"]) / weight,
                "accuracy": float(totals["correct"]) / weight}

    def serving_signatures(self, model, decoding=None, limits=None):
        return serving.signatures(model, self.tokenize, limits or ServingLimits())

    def warmup_requests(self):
        return serving.warmup_requests()
