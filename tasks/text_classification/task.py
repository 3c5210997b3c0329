"""Text classification: one label per text, for any backbone (an encoder, a GPT, an LSTM).

Examples come from labelled text (`tasks.data.load_labelled`: `sst2`, or TSV/CSV/JSONL). The
label set is the training split's labels, sorted (numerically when they are all integers), and
saved with the run (`labels.json`), so a run is evaluated, exported and served without its data.
Texts are tokenized in the input pipeline: `[CLS] text [SEP]` for an encoder, the text alone for
a causal backbone, cut to `max_length` tokens and right-padded. Training batches are epochs of
shuffled examples keyed by (seed, step), so resuming is exact; `augment="eda"` applies EDA to
training texts only (`tasks.text_classification.eda`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasks import run_files
from tasks.catalog import BUILT_IN_TASKS
from tasks.data import DataError, Examples, Tokenizer, build_tokenizer, load_labelled
from tasks.replicas import ReplicaLayout
from tasks.request_checks import ServingLimits
from tasks.task import Batch, DataSpec, KerasLoop, OnDemand, Task
from tasks.text_batches import batch_indices, head_and_tail, pad_rows
from tasks.text_classification import serving
from tasks.text_classification.model import POOLINGS, TextClassifier

SPECIALS = ("pad", "cls", "sep")
AUGMENTATIONS = ("eda",)
TRUNCATIONS = ("head", "head_tail")


@dataclasses.dataclass(frozen=True)
class TextClassificationOptions:
    """The classification task's settings (`--set key=value`).

    Attributes:
        text_column, label_column: where a file keeps the two fields (a header name, or a
            0-based index); found by themselves when None (see `tasks.data.examples`).
        pooling: "cls", "mean" or "last"; None picks by backbone ([CLS] for an encoder, the
            last real token for a causal Transformer or an LSTM).
        max_length: tokens per text, [CLS] and [SEP] included (None: the backbone's length).
        truncation: how a longer text is cut: "head" keeps its first tokens, "head_tail" its
            first quarter and last three quarters of the room (for long reviews).
        dropout: dropout before the classifier layer.
        label_smoothing: Szegedy et al.'s smoothing of the targets (0: off).
        augment: "eda" to augment training texts (Wei & Zou 2019), None for none.
        eda_alpha: the share of a text's words each EDA operation changes.
        synonyms: a `word<TAB>synonym...` TSV for EDA's synonym operations (else WordNet
            through nltk when its data is installed, else those operations are skipped).
        train_examples: train on this many examples (a seeded subset), None for all.
    """

    text_column: Any = None
    label_column: Any = None
    pooling: str | None = None
    max_length: int | None = None
    truncation: str = "head"
    dropout: float = 0.1
    label_smoothing: float = 0.0
    augment: str | None = None
    eda_alpha: float = 0.1
    synonyms: str | None = None
    train_examples: int | None = None


class TextClassificationTask(Task):
    """Labelled text classification with accuracy, macro-F1 and a confusion matrix.

    Example:

        task = TextClassificationTask.create(DataSpec("sst2", "wordpiece", 128), {})
    """

    name = "text_classification"
    description = BUILT_IN_TASKS["text_classification"].description
    Options = TextClassificationOptions
    recipe = BUILT_IN_TASKS["text_classification"].recipe  # RunConfig defaults (tasks.catalog)

    def __init__(self, examples: Examples | str | OnDemand[Examples], tokenizer: Tokenizer,
                 labels: list[str], sequence_length: int, **options: Any):
        self.options = self.options_from(options)
        self._check_options()
        if len(labels) < 2:
            raise DataError(f"classification needs at least two classes; the training labels "
                            f"are only {labels}")
        self._examples = OnDemand(examples, lambda name: self._load(name, self.options))
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.sequence_length = min(self.options.max_length or sequence_length, sequence_length)
        self.pad_id = tokenizer.special_ids.get("pad", 0)
        self.causal: bool | None = None  # fixed by build_model: the input follows the backbone
        self.wrap = False
        self._encoded: dict[str, tuple[list[str], np.ndarray]] = {}

    def _check_options(self) -> None:
        options = self.options
        if options.pooling not in (None, *POOLINGS):
            raise DataError(f"pooling must be one of {', '.join(POOLINGS)}")
        if options.truncation not in TRUNCATIONS:
            raise DataError(f"truncation must be one of {', '.join(TRUNCATIONS)}")
        if options.augment not in (None, *AUGMENTATIONS):
            raise DataError(f"augment must be one of {', '.join(AUGMENTATIONS)} (or none)")
        if options.max_length is not None and options.max_length < 3:
            raise DataError("max_length must be at least 3")
        if options.train_examples is not None and options.train_examples < 2:
            raise DataError("train_examples must be at least 2")

    @classmethod
    def create(cls, data: DataSpec, options: Mapping[str, Any], *, run_dir=None,
               tokenizer=None) -> TextClassificationTask:
        parsed = cls.options_from(options)
        examples = OnDemand(data.dataset, lambda name: cls._load(name, parsed))
        labels_path = os.path.join(run_dir, run_files.LABELS) if run_dir else None
        if labels_path and os.path.isfile(labels_path):
            with open(labels_path, encoding="utf-8") as f:
                labels = json.load(f)["labels"]
        else:
            labels = label_set(examples.get().split("train")[1])
        tokenizer = cls.resolve_tokenizer(run_dir, tokenizer, lambda: build_tokenizer(
            data.tokenizer, "\n".join(examples.get().split("train")[0]),
            vocab_size=data.vocab_size, special_tokens=SPECIALS))
        return cls(examples, tokenizer, labels, data.sequence_length, **options)

    @staticmethod
    def _load(dataset: str, options: TextClassificationOptions) -> Examples:
        return load_labelled(dataset, text_column=options.text_column,
                             label_column=options.label_column)

    def save(self, run_dir: str) -> None:
        super().save(run_dir)
        run_files.write_json(os.path.join(run_dir, run_files.LABELS),
                             {"labels": self.labels, "split": self.examples.split_note})

    @property
    def examples(self) -> Examples:
        return self._examples.get()

    def describe_data(self) -> str:
        counts = ", ".join(f"{s} {len(t):,}" for s, (t, _) in self.examples.splits.items())
        return f"{self.examples.name} ({len(self.labels)} classes; {counts})"

    def eval_splits(self) -> list[str]:
        return [s for s in ("validation", "test") if s in self.examples.splits]

    # ----------------------------------------------------------------------------- data

    def split(self, split: str) -> tuple[list[str], np.ndarray]:
        """A split's texts and label ids; a label outside the training set is a DataError."""
        if split not in self._encoded:
            texts, labels = self.examples.split(split)
            index = {label: i for i, label in enumerate(self.labels)}
            unknown = sorted(set(labels) - set(index))
            if unknown:
                raise DataError(
                    f"{self.examples.name}/{split}: label {unknown[0]!r} is not one of the "
                    f"training labels ({', '.join(self.labels)})"
                )
            ids = np.array([index[label] for label in labels], np.int32)
            if split == "train" and self.options.train_examples:
                order = np.random.default_rng(0).permutation(len(texts))
                keep = np.sort(order[: self.options.train_examples])
                texts, ids = [texts[i] for i in keep], ids[keep]
            self._encoded[split] = (texts, ids)
        return self._encoded[split]

    def steps_per_epoch(self, global_batch_size: int) -> int:
        return max(1, len(self.split("train")[0]) // global_batch_size)

    def tokens_per_step(self, global_batch_size: int) -> int:
        return global_batch_size * self.sequence_length

    def tokenize(self, texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Texts [B] -> token ids and padding mask [B, sequence_length], as the model reads."""
        if self.causal is None:
            raise RuntimeError("build_model first: the input format follows the backbone")
        ids = self.tokenizer.tf_tokenize(texts)
        if self.options.truncation == "head_tail":
            room = self.sequence_length - (2 if self.wrap else 0)
            ids = head_and_tail(ids, room, head=room // 4)
        if self.wrap:
            special = self.tokenizer.special_ids
            return pad_rows(ids, self.sequence_length, self.pad_id, [special["cls"]],
                            [special["sep"]])
        return pad_rows(ids, self.sequence_length, self.pad_id)

    def train_dataset(self, global_batch_size, *, seed, start_step, num_steps,
                      input_context=None) -> tf.data.Dataset:
        layout = ReplicaLayout.of(global_batch_size, input_context)
        texts, labels = self.split("train")
        texts_t, labels_t = tf.constant(texts), tf.constant(labels)
        augmenter = self._augmenter() if self.options.augment else None

        def batch_for_step(step):
            indices = batch_indices(len(texts), global_batch_size, seed, step)
            chosen = tf.gather(texts_t, indices)
            if augmenter is not None:
                chosen = augmenter(chosen, tf.stack([tf.constant(seed + 3, tf.int64), step]))
            token_ids, mask = self.tokenize(chosen)
            features = {"token_ids": token_ids, "padding_mask": mask}
            weights = tf.ones([global_batch_size], tf.float32)
            return layout.elements((features, tf.gather(labels_t, indices), weights))

        ds = tf.data.Dataset.range(start_step, num_steps).flat_map(batch_for_step)
        return ds.prefetch(tf.data.AUTOTUNE)

    def eval_dataset(self, split, global_batch_size, *, max_batches=None,
                     input_context=None) -> tf.data.Dataset:
        layout = ReplicaLayout.of(global_batch_size, input_context)
        texts, labels = self.split(split)
        batches = -(-len(texts) // global_batch_size)
        if max_batches is not None:
            batches = min(batches, max_batches)
        count = batches * global_batch_size
        filler = count - len(texts)
        texts = (list(texts) + [""] * max(filler, 0))[:count]
        labels = np.concatenate([labels, np.zeros(max(filler, 0), np.int32)])[:count]
        weights = (np.arange(count) < len(self.split(split)[0])).astype(np.float32)
        texts = tf.constant(texts)

        def batch(number):
            rows = number * global_batch_size + tf.range(global_batch_size, dtype=tf.int64)
            token_ids, mask = self.tokenize(tf.gather(texts, rows))
            features = {"token_ids": token_ids, "padding_mask": mask}
            return layout.elements((features, tf.gather(labels, rows), tf.gather(weights, rows)))

        return tf.data.Dataset.range(batches).flat_map(batch)

    def _augmenter(self):
        from tasks.text_classification.eda import Augmenter, read_synonyms, wordnet_synonyms

        if self.options.synonyms:
            synonyms = read_synonyms(self.options.synonyms)
        else:
            words = {w for text in self.split("train")[0] for w in text.split()}
            synonyms = wordnet_synonyms(words)
        return Augmenter(self.options.eda_alpha, synonyms)

    # ----------------------------------------------------------------------------- the model

    def build_model(self, backbone: keras.Model) -> keras.Model:
        self.causal = bool(getattr(backbone, "causal", False))
        # An encoder reads [CLS] text [SEP]; a causal model or a bag of words the text alone.
        self.wrap = not self.causal and getattr(backbone, "pooling", None) is None
        if self.wrap:
            missing = [n for n in ("cls", "sep") if n not in self.tokenizer.special_ids]
            if missing:
                raise DataError(f"an encoder reads [CLS] text [SEP], and this tokenizer has no "
                                f"{', '.join(missing)} token: learn a new one (or start from a "
                                "masked-LM run)")
        return self._classifier(backbone, len(self.labels), self.options)

    @classmethod
    def model_for(cls, backbone, vocab_size: int, options) -> TextClassifier:
        """A two-class classifier (the number of classes comes from the data otherwise)."""
        return cls._classifier(backbone, 2, options)

    @classmethod
    def _classifier(cls, backbone, num_classes: int, options) -> TextClassifier:
        causal = bool(getattr(backbone, "causal", False))
        own = getattr(backbone, "pooling", None)  # a backbone that knows how it is read
        pooling = options.pooling or own or ("last" if causal else "cls")
        model = TextClassifier(backbone, num_classes, pooling=pooling, dropout=options.dropout,
                               name=cls.name, dtype=backbone.dtype_policy)
        model({"token_ids": tf.zeros([1, 2], tf.int32), "padding_mask": tf.ones([1, 2])})
        return model

    # ----------------------------------------------------------------------------- training

    def _losses(self, labels, logits):
        if self.options.label_smoothing:
            targets = tf.one_hot(labels, len(self.labels))
            return keras.losses.categorical_crossentropy(
                targets, logits, from_logits=True, label_smoothing=self.options.label_smoothing
            )
        return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)

    def loss(self, model, batch: Batch, carry, training: bool):
        features, labels, weights = batch
        logits = model(features, training=training)
        losses = self._losses(labels, logits)
        return tf.reduce_sum(losses * weights), tf.reduce_sum(weights), carry

    def keras_loop(self) -> KerasLoop:
        """Texts in, labels as the run's class names (or their ids); the recipe's rate."""
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(self.labels),
                                                tf.range(len(self.labels), dtype=tf.int64)),
            default_value=-1)

        def preprocess(x, y=None, sample_weight=None):
            token_ids, mask = self.tokenize(x)
            if y is not None and y.dtype == tf.string:
                ids = table.lookup(y)
                with tf.control_dependencies([tf.debugging.assert_non_negative(
                        ids, message=f"y: a label that is not one of {self.labels}")]):
                    y = tf.identity(ids)
            return keras.utils.pack_x_y_sample_weight(
                {"token_ids": token_ids, "padding_mask": mask}, y, sample_weight)

        return KerasLoop.for_classes(preprocess, self.recipe["learning_rate"])

    # ----------------------------------------------------------------------------- evaluation

    def eval_statistics(self, model, batch: Batch, carry):
        features, labels, weights = batch
        logits = model(features, training=False)
        losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        classes = len(self.labels)
        confusion = tf.einsum("b,bi,bj->ij", weights, tf.one_hot(labels, classes),
                              tf.one_hot(predicted, classes))
        return {"loss_sum": tf.reduce_sum(losses * weights), "weight": tf.reduce_sum(weights),
                "confusion": confusion}, carry

    def metrics(self, totals, split: str) -> dict[str, Any]:
        confusion = np.asarray(totals["confusion"], np.float64)  # [true, predicted]
        total = max(float(totals["weight"]), 1.0)
        true, predicted, right = confusion.sum(1), confusion.sum(0), np.diag(confusion)
        precision = np.divide(right, predicted, out=np.zeros_like(right), where=predicted > 0)
        recall = np.divide(right, true, out=np.zeros_like(right), where=true > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(right),
                       where=precision + recall > 0)
        return {
            "loss": float(totals["loss_sum"]) / total,
            "accuracy": float(right.sum()) / total,
            "macro_f1": float(f1.mean()),
            "confusion": {"labels": self.labels,
                          "counts": confusion.astype(int).tolist()},  # rows: true labels
        }

    # ----------------------------------------------------------------------------- serving

    def serving_signatures(self, model, decoding=None, limits=None):
        return serving.classification_signatures(model, self.tokenize, self.labels,
                                         limits or ServingLimits())

    def signature_methods(self) -> dict[str, str]:
        return {"classify": serving.CLASSIFY_METHOD}

    def warmup_requests(self):
        return serving.warmup_requests()


def label_set(labels: list[str]) -> list[str]:
    """The distinct labels, sorted: numerically when they all are integers ("2" before "10")."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct)
