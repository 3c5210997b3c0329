"""The contract between a task and the rest of the zoo.

A task owns what is learned and how it is judged: its data (train batches keyed by step, finite
evaluation passes), the head it puts on a backbone, its loss, its metrics, how it starts from a
pretrained run, what it serves, and what it reports when a run ends. The trainer, the run loader
and the exporter are generic and call these methods; they know no particular task.

A batch is `(features, targets, sample_weight)`: `features` a dict of tensors the task's model
reads, `targets` what it is scored against, `sample_weight` how much each target counts (0 for
padding). Losses come back as a (sum, weight) pair, so the trainer can average them correctly
over replicas, masked positions and padded rows.

Smaller than TF Model Garden's `base_task.Task`, from which the shape comes (a task builds its
inputs, model head, losses and metrics, and can initialize from a checkpoint), and than
keras-hub's task classes, whose backbone/head split it keeps.
"""

from __future__ import annotations

import abc
import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import keras
import numpy as np
import tensorflow as tf

from tasks import run_files
from tasks.catalog import BUILT_IN_TASKS
from tasks.data import DataError, Tokenizer, load_tokenizer
from tasks.request_checks import ServingLimits

Batch = tuple[Any, Any, Any]  # (features, targets, sample_weight)


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Where a task's examples come from and how a new vocabulary is made.

    `dataset` is a named dataset or a path; `tokenizer` the kind of tokenizer to learn when the
    run has none yet; `vocab_size` its size bound; `sequence_length` the longest input the
    model takes (windows, padding, truncation); `backbone` the class of the backbone the run
    will build, when known, for tasks that lay their data out by kind of backbone (an
    encoder-decoder or one causal sequence).
    """

    dataset: str
    tokenizer: str
    sequence_length: int
    vocab_size: int | None = None
    backbone: type | None = None


@dataclasses.dataclass(frozen=True)
class KerasLoop:
    """A task model's preprocessing and compile defaults for Keras' fit/evaluate/predict.

    `preprocess(x, y=None, sample_weight=None)` maps a batch of raw inputs (strings, and labels
    as names or ids) to what the model reads, in TF ops, returning Keras'
    `pack_x_y_sample_weight` tuple; `compile_defaults()` gives a fresh `optimizer`, `loss` and
    `weighted_metrics` for a `compile()` called without them (keras-hub's convention).
    """

    preprocess: Callable[..., Any]
    compile_defaults: Callable[[], dict[str, Any]]
    # For inputs built eagerly (question answering's windows): (x, y, sample_weight,
    # batch_size, shuffle) -> a dataset of model-ready batches, used for lists of inputs.
    encode: Callable[..., Any] | None = None

    @classmethod
    def for_classes(cls, preprocess: Callable[..., Any], learning_rate: float = 1e-4,
                    output: str | None = None) -> KerasLoop:
        """A loop whose model outputs logits over classes or tokens (`output`: the key of
        a model that outputs a dict): AdamW, sparse cross-entropy and accuracy."""

        def compile_defaults() -> dict[str, Any]:
            # The mean over what carries weight (the masked positions, the real tokens), as
            # the zoo's trainer reports it; Keras' default divides by every position.
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight")
            metrics = [keras.metrics.SparseCategoricalAccuracy("accuracy")]
            # Weighted: padding and unmasked positions carry weight 0, and Keras' plain
            # `metrics` would count them.
            return {
                "optimizer": keras.optimizers.AdamW(learning_rate, weight_decay=0.01),
                "loss": {output: loss} if output else loss,
                "weighted_metrics": {output: metrics} if output else metrics,
            }

        return cls(preprocess, compile_defaults)


class Task(abc.ABC):
    """One kind of learning problem. Subclasses set `name`, `description` and `Options`."""

    name: ClassVar[str]
    description: ClassVar[str]
    # A frozen dataclass of the task's own settings: `--set key=value` keys, saved in config.json.
    Options: ClassVar[type]
    # RunConfig defaults for this task when a preset made for another task is trained for it
    # (fine-tuning an encoder for classification); a preset's own recipe wins for its task.
    recipe: ClassVar[dict[str, Any]] = {}

    tokenizer: Tokenizer

    @classmethod
    def named_datasets(cls) -> list[str]:
        """The datasets this task knows by name (`--dataset`); any path works besides. A
        built-in task's come from `tasks.catalog`."""
        entry = BUILT_IN_TASKS.get(cls.name)
        return entry.datasets() if entry else []

    # ----------------------------------------------------------------------------- making one

    @classmethod
    @abc.abstractmethod
    def create(
        cls,
        data: DataSpec,
        options: Mapping[str, Any],
        *,
        run_dir: str | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> Task:
        """The task for `data`. What a run saved in `run_dir` (its tokenizer, its label set) is
        reused; else `tokenizer` (a pretrained run's) is taken; else a vocabulary is learned.
        Must not read the data unless it has to learn something from it: a run is exported or
        served without its corpus."""

    @classmethod
    def options_from(cls, values: Mapping[str, Any]) -> Any:
        """`values` as the task's Options; an unknown key is a DataError naming the known ones."""
        known = {f.name for f in dataclasses.fields(cls.Options)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(
                f"task {cls.name}: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return cls.Options(**values)

    @staticmethod
    def resolve_tokenizer(run_dir: str | None, given: Tokenizer | None,
                          learn: Callable[[], Tokenizer]) -> Tokenizer:
        """The tokenizer a run saved in `run_dir` wins (a resumed or reloaded run), then `given`
        (a pretrained run's, for fine-tuning), else `learn()` makes one from the data."""
        if run_files.has_tokenizer(run_dir):
            return load_tokenizer(os.path.join(run_dir, run_files.TOKENIZER))
        return given if given is not None else learn()

    def save(self, run_dir: str) -> None:
        """Writes what `create(run_dir=...)` reads back: at least the tokenizer."""
        if not run_files.has_tokenizer(run_dir):
            self.tokenizer.save(os.path.join(run_dir, run_files.TOKENIZER))

    # ----------------------------------------------------------------------------- data

    @abc.abstractmethod
    def train_dataset(
        self,
        global_batch_size: int,
        *,
        seed: int,
        start_step: int,
        num_steps: int,
        input_context: tf.distribute.InputContext | None = None,
    ) -> tf.data.Dataset:
        """Per-replica batches for steps `start_step..num_steps-1`; the data position is the step,
        so a resumed run sees exactly the batches an uninterrupted one would."""

    @abc.abstractmethod
    def eval_dataset(
        self,
        split: str,
        global_batch_size: int,
        *,
        max_batches: int | None = None,
        input_context: tf.distribute.InputContext | None = None,
    ) -> tf.data.Dataset:
        """A finite pass over `split` in per-replica batches; filler rows have weight 0."""

    @abc.abstractmethod
    def steps_per_epoch(self, global_batch_size: int) -> int:
        """Steps that show the model the training split once."""

    @abc.abstractmethod
    def tokens_per_step(self, global_batch_size: int) -> int:
        """Input positions one training step reads (for tokens/s)."""

    def eval_batch_size(self, train_batch_size: int, replicas: int) -> int:
        """The global batch for evaluation: about 64 rows, a multiple of the replicas."""
        batch = train_batch_size * max(1, 64 // train_batch_size)
        return max(replicas, batch - batch % replicas)

    def describe_data(self) -> str:
        """The data in a few words, for the run's first log line."""
        return ""

    def eval_splits(self) -> list[str]:
        """The splits evaluation can read, validation first."""
        return ["validation", "test"]

    # ----------------------------------------------------------------------------- the model

    @abc.abstractmethod
    def build_model(self, backbone: keras.Model) -> keras.Model:
        """This task's head on `backbone`, built (its weights exist)."""

    @classmethod
    @abc.abstractmethod
    def model_for(cls, backbone: keras.Model, vocab_size: int, options: Any) -> keras.Model:
        """The task's model from sizes and Options alone, without data (`zoo.build`)."""

    def initialize(self, model: keras.Model, pretrained: keras.Model) -> None:
        """Starts `model` from `pretrained`'s backbone (fine-tuning); the head stays new.

        Backbone weights are matched by their path below the backbone; a missing weight or a
        different shape means the two backbones differ, which is a DataError.
        """
        copy_backbone_weights(pretrained.backbone, model.backbone)

    # ----------------------------------------------------------------------------- training

    @abc.abstractmethod
    def loss(
        self, model: keras.Model, batch: Batch, carry: Any, training: bool
    ) -> tuple[tf.Tensor, tf.Tensor, Any]:
        """(sum of per-target losses x weights, sum of weights, new carry) for one replica.

        The trainer divides by the weight summed over every replica, so each target counts the
        same however the batch was split.
        """

    def initial_carry(self, model: keras.Model, batch_size: int) -> Any:
        """State carried from one batch into the next (truncated BPTT); none by default."""
        return ()

    # ----------------------------------------------------------------------------- evaluation

    @abc.abstractmethod
    def eval_statistics(
        self, model: keras.Model, batch: Batch, carry: Any
    ) -> tuple[dict[str, tf.Tensor], Any]:
        """Additive statistics of one batch (sums, counts, confusion counts) and the new carry.

        The evaluator sums each entry over replicas and batches, then calls `metrics`.
        """

    @abc.abstractmethod
    def metrics(self, totals: Mapping[str, np.ndarray], split: str) -> dict[str, Any]:
        """The reported metrics of a split from its summed statistics; "loss" comes first."""

    def extra_metrics(self, model: keras.Model, split: str) -> dict[str, Any]:
        """Metrics that need more than sums of batch statistics (e.g. BLEU from decoded text),
        computed once at the end of a run and by `zoo.evaluate`; none by default."""
        return {}

    # ------------------------------------------------------------------ Keras' own loop

    def keras_loop(self) -> KerasLoop | None:
        """What `model.compile()` and `model.fit(strings, labels)` need for this task's model
        (see `tasks.task_model.TaskModel`): None where the task has no Keras loop yet."""
        return None

    # ----------------------------------------------------------------------------- reporting

    def report(self, model: keras.Model, *, jit_compile: bool = False) -> dict[str, str]:
        """What a finished run shows a person (the LM's text sample); nothing by default."""
        return {}

    # ----------------------------------------------------------------------------- serving

    @abc.abstractmethod
    def serving_signatures(
        self, model: keras.Model, decoding: Any, limits: ServingLimits
    ) -> dict[str, tf.types.experimental.PolymorphicFunction]:
        """Traced tf.functions by signature name: raw inputs in (text), answers out.

        `decoding` holds the export's generation defaults (a `tasks.decoding.SamplingConfig`)
        for tasks that generate; `limits` what one request may ask. The built-in tasks trace
        theirs with `autograph=False`: written in TF ops (tf.while_loop, tf.cond, tf.switch_case),
        they need no conversion, which took a quarter of a summarizer's tracing (14.5 s of
        tracing -> 10.5 s).
        """

    @abc.abstractmethod
    def warmup_requests(self) -> list[tuple[str, dict[str, np.ndarray]]]:
        """(signature, inputs) pairs a server replays before it takes traffic."""

    def signature_methods(self) -> dict[str, str]:
        """Signatures that are not plain Predict ones, and TF Serving's method name for each
        (a classifier's `classify`: "tensorflow/serving/classify"); none by default."""
        return {}

    def serving_resources(self) -> list[tf.Module]:
        """Modules whose tables and files the export must carry (the tokenizer)."""
        return [self.tokenizer]


def backbone_weights(backbone: keras.Model) -> dict[str, keras.Variable]:
    """The backbone's variables by their path below the backbone itself."""
    prefix = backbone.path.rstrip("/") + "/" if backbone.path else ""
    return {_below(v.path, prefix): v for v in backbone.weights}


def copy_backbone_weights(source: keras.Model, target: keras.Model) -> None:
    """Assigns every weight of `target` from the same-named weight of `source`."""
    theirs, ours = backbone_weights(source), backbone_weights(target)
    missing = sorted(set(ours) - set(theirs))
    if missing:
        raise DataError(
            f"the pretrained backbone has no weight {missing[0]} (and {len(missing) - 1} more): "
            "it is a different kind of backbone"
        )
    for name, variable in ours.items():
        if tuple(theirs[name].shape) != tuple(variable.shape):
            raise DataError(
                f"the pretrained backbone's {name} has shape {tuple(theirs[name].shape)}, this "
                f"model's {tuple(variable.shape)}: the backbones differ (vocabulary or size)"
            )
        variable.assign(theirs[name])


def _below(path: str, prefix: str) -> str:
    return path[len(prefix) :] if path.startswith(prefix) else path


T = TypeVar("T")


class OnDemand(Generic[T]):
    """A task's data by name, read on first use and then kept: a run is evaluated on another
    split, exported or served without reading its corpus. Given the data itself, holds it."""

    def __init__(self, source: T | str | OnDemand[T], load: Callable[[str], T]):
        if isinstance(source, OnDemand):
            self.__dict__.update(source.__dict__)
            return
        self._value: T | None = None if isinstance(source, str) else source
        self.name: str = source if isinstance(source, str) else getattr(source, "name", "")
        self._load = load

    def get(self) -> T:
        if self._value is None:
            self._value = self._load(self.name)
        return self._value
