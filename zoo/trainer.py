"""The one training loop, for every tf.distribute strategy.

Keras 3.15's `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so the
loop is ours: `strategy.run` over a distributed dataset inside a `tf.function`. Everything a run
needs to continue after `kill -9` is checkpointed: weights, optimizer slots, the step (which is also
the data position, see `LanguageModelingTask.train_dataset`) and the dropout RNG states.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasks import LanguageModelingTask
from tasks.data import DataError
from zoo import registry
from zoo.config import ConfigError, RunConfig
from zoo.decoding import SamplingConfig, generate_tokens
from zoo.distribute import is_chief, make_strategy, worker_dir
from zoo.optimizers import make_optimizer
from zoo.run_log import RunLog

PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class TrainResult:
    step: int
    train_loss: float
    validation: dict[str, float]
    seconds: float
    tokens_per_second: float
    sample: str


def model_overrides(config: RunConfig) -> dict[str, Any]:
    overrides = dict(config.model_overrides)
    if config.dropout is not None:
        overrides["dropout"] = config.dropout
    return overrides


def build_task(config: RunConfig, model_dir: str | None = None) -> LanguageModelingTask:
    """The task for `config`, reusing the run's saved tokenizer when `model_dir` has one."""
    model_config = registry.model_config(config.model, **model_overrides(config))
    if config.data and not os.path.exists(config.data):
        raise DataError(f"--data: no such file or folder: {config.data}")
    return LanguageModelingTask.from_names(
        config.data or config.dataset,
        config.tokenizer,
        sequence_length=model_config["sequence_length"],
        vocab_size=config.vocab_size,
        tokenizer_dir=os.path.join(model_dir, "tokenizer") if model_dir else None,
        stateful=config.stateful,
    )


def total_steps(config: RunConfig, task: LanguageModelingTask) -> int:
    if config.epochs is not None:
        return max(1, math.ceil(config.epochs * task.steps_per_epoch(config.batch_size)))
    if not config.train_steps or config.train_steps < 1:
        raise ConfigError("set train_steps to a positive number or give epochs")
    return config.train_steps


class Trainer:
    """Trains `config.model` on `config.dataset` into `model_dir`, resuming if it holds a run.

    Example:

        trainer = Trainer(RunConfig(train_steps=100), "runs/demo")
        result = trainer.fit()
    """

    def __init__(
        self,
        config: RunConfig,
        model_dir: str,
        strategy: tf.distribute.Strategy | None = None,
        task: LanguageModelingTask | None = None,
    ):
        self.config = config
        self.model_dir = model_dir
        self.strategy = strategy or make_strategy(config.strategy)
        self.chief = is_chief(self.strategy)
        self.out_dir = worker_dir(model_dir, self.strategy)
        keras.utils.set_random_seed(config.seed)
        if config.mixed_precision not in PRECISIONS:
            raise ConfigError(f"mixed_precision must be one of {', '.join(PRECISIONS)}")
        keras.mixed_precision.set_global_policy(
            "float32" if config.mixed_precision == "none" else config.mixed_precision
        )

        self.task = task or build_task(config, model_dir)
        self.num_steps = total_steps(config, self.task)
        self.replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % self.replicas:
            raise ConfigError(
                f"batch_size {config.batch_size} must be divisible by the {self.replicas} replicas"
            )
        steps_per_epoch = self.task.steps_per_epoch(config.batch_size)
        with self.strategy.scope():
            self.model = registry.build(
                config.model, vocab_size=self.task.vocab_size, **model_overrides(config)
            )
            self.optimizer = make_optimizer(config, self.num_steps, steps_per_epoch)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.carried_state = self._make_carried_state() if config.stateful else []
        # Keras does not expose dropout RNG states to tf.train.Checkpoint: track them by hand.
        rng_states = [v for v in self.model.variables if "seed_generator" in v.path]
        self.checkpoint = tf.train.Checkpoint(
            model=self.model,
            optimizer=self.optimizer,
            step=self.step,
            rng_states=rng_states,
            carried_state=tf.nest.flatten(self.carried_state),
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint,
            os.path.join(self.out_dir, "checkpoints"),
            max_to_keep=config.keep_checkpoints,
        )
        self._train_step = self._make_train_step()
        self._eval_step = self._make_eval_step()

    # ----------------------------------------------------------------------------- steps

    def _make_carried_state(self):
        """Per-replica variables holding a recurrent model's state between training batches."""
        if not hasattr(self.model, "call_with_state"):
            raise ConfigError(f"stateful training needs a recurrent model, not {self.config.model}")
        per_replica = self.config.batch_size // self.replicas
        zeros = self.model.initial_decoding_state(per_replica)
        # ON_READ: each replica keeps its own rows' state (checkpoints store replica 0's copy).
        return tf.nest.map_structure(
            lambda z: tf.Variable(
                z,
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            ),
            zeros,
        )

    def _make_train_step(self):
        model, optimizer, task = self.model, self.optimizer, self.task
        tokens_per_batch = float(self.config.batch_size * self.task.sequence_length)
        clip = self.config.clip_norm
        replicas = self.replicas
        scaled_loss = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        carried = self.carried_state
        steps_per_epoch = self.task.steps_per_epoch(self.config.batch_size)

        @tf.function(jit_compile=self.config.jit_compile)
        def loss_and_gradients(inputs, targets, state):
            with tf.GradientTape() as tape:
                if carried:
                    logits, state = model.call_with_state(inputs, state, training=True)
                else:
                    logits = model(inputs, training=True)
                loss = tf.reduce_sum(task.token_losses(targets, logits)) / tokens_per_batch
                scaled = optimizer.scale_loss(loss) if scaled_loss else loss
            return loss, tape.gradient(scaled, model.trainable_variables), state

        def replica_step(inputs, targets):
            state = []
            if carried:
                # Every epoch starts its streams from zero state, as Zaremba et al. do.
                fresh = self.step % steps_per_epoch == 0
                state = tf.nest.map_structure(
                    lambda v: tf.where(fresh, tf.zeros_like(v), v.read_value()), carried
                )
            loss, grads, state = loss_and_gradients(inputs, targets, state)
            tf.nest.map_structure(lambda v, s: v.assign(tf.stop_gradient(s)), carried, state)
            if clip:
                # Keras would clip each replica's partial gradient before its all-reduce; global
                # norm clipping needs the summed gradient, so reduce first. The optimizer sums
                # again across replicas, hence the division (costs one extra all-reduce).
                if replicas > 1:
                    grads = tf.distribute.get_replica_context().all_reduce("sum", grads)
                scale = optimizer.scale_loss(1.0) if scaled_loss else 1.0
                grads, _ = tf.clip_by_global_norm(grads, clip * scale)
                if replicas > 1:
                    grads = [g / replicas for g in grads]
            optimizer.apply(grads, model.trainable_variables)
            return loss

        @tf.function
        def train_step(iterator):
            losses = self.strategy.run(replica_step, args=next(iterator))
            self.step.assign_add(1)
            return self.strategy.reduce("sum", losses, axis=None)

        return train_step

    def _make_eval_step(self):
        model, task = self.model, self.task

        @tf.function
        def eval_step(inputs, targets, weights, state):
            def replica(inputs, targets, weights, state):
                if task.stateful:
                    logits, state = model.call_with_state(inputs, state, training=False)
                else:
                    logits = model(inputs, training=False)
                losses = task.token_losses(targets, logits)
                return tf.reduce_sum(losses * weights), tf.reduce_sum(weights), state

            total, count, state = self.strategy.run(
                replica, args=(inputs, targets, weights, state)
            )
            return (
                self.strategy.reduce("sum", total, axis=None),
                self.strategy.reduce("sum", count, axis=None),
                state,
            )

        return eval_step

    # ----------------------------------------------------------------------------- public

    def restore(self) -> int:
        """Restores the latest checkpoint, if any; returns the step it resumes from."""
        latest = tf.train.latest_checkpoint(os.path.join(self.model_dir, "checkpoints"))
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        return int(self.step.numpy())

    def train_iterator(self, start_step: int):
        """Per-replica batches for steps start_step..num_steps-1, distributed by the strategy."""
        dataset = self.strategy.distribute_datasets_from_function(
            lambda ctx: self.task.train_dataset(
                self.config.batch_size,
                seed=self.config.seed,
                start_step=start_step,
                num_steps=self.num_steps,
                input_context=ctx,
            )
        )
        return iter(dataset)

    def train_step(self, iterator) -> tf.Tensor:
        """One optimizer step on the next global batch; returns its mean loss."""
        return self._train_step(iterator)

    def evaluate(self, split: str = "validation") -> dict[str, float]:
        """Mean loss over `split` (all of it unless `eval_batches` caps it) and its metrics."""
        if self.task.stateful:
            batch = self.replicas  # one contiguous stream per replica, state carried throughout
            state = self.strategy.run(lambda: self.model.initial_decoding_state(1))
        else:
            batch = self.config.batch_size * max(1, 64 // self.config.batch_size)
            batch -= batch % self.replicas
            state = []
        dataset = self.strategy.distribute_datasets_from_function(
            lambda ctx: self.task.eval_dataset(
                split, batch, max_batches=self.config.eval_batches, input_context=ctx
            )
        )
        total, count = 0.0, 0.0
        for inputs, targets, weights in dataset:
            t, c, state = self._eval_step(inputs, targets, weights, state)
            total += t  # tensors: no host sync per batch
            count += c
        total, count = float(total), float(count)
        return self.task.metrics(total / max(count, 1.0), split)

    def sample(self, length: int, prompt: str = "\n") -> str:
        ids = self.task.tokenizer.encode(prompt)
        if len(ids) == 0:
            ids = np.zeros([1], np.int32)
        # Sampled as nanoGPT's sample.py samples (greedy text loops); the seed fixes it.
        out = generate_tokens(
            self.model, ids[None, :], length, SamplingConfig(), self.config.jit_compile
        )
        return self.task.tokenizer.decode(out[0].tolist())

    def fit(self) -> TrainResult:
        config = self.config
        start = self.restore()
        log = RunLog(self.out_dir, enabled=self.chief)
        if self.chief:
            save_run_files(self.model_dir, config, self.task)
        if start:
            log.info(f"Resuming {self.model_dir} from step {start}/{self.num_steps}")
        else:
            log.info(self._describe())
        iterator = self.train_iterator(start)
        progress = log.progress(self.num_steps, start, every=config.log_every)
        summary_every = config.log_every or 10
        tokens_per_step = config.batch_size * self.task.sequence_length
        began = time.time()
        window_start, window_losses = time.time(), []
        train_loss = float("nan")
        validation: dict[str, float] = {}
        step = start
        while step < self.num_steps:
            loss = self.train_step(iterator)
            step += 1
            window_losses.append(loss)
            last = step == self.num_steps
            if step % summary_every == 0 or progress.wants_line(step):
                train_loss = float(np.mean([float(x) for x in window_losses]))
                if not math.isfinite(train_loss):
                    raise FloatingPointError(
                        f"training diverged at step {step} (loss {train_loss}); "
                        "lower --learning_rate or set --clip_norm"
                    )
                elapsed = time.time() - window_start
                speed = len(window_losses) * tokens_per_step / max(elapsed, 1e-9)
                lr = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
                log.train(step, train_loss, lr, speed)
                progress.update(step, train_loss, speed)
                window_start, window_losses = time.time(), []
            if step % config.eval_every == 0 or last:
                validation = self.evaluate("validation")
                log.evaluation(step, train_loss, validation, time.time() - began)
                progress.evaluation(step, validation)
            if step % config.checkpoint_every == 0 or last:
                self._save()
            if step % config.eval_every == 0 or step % config.checkpoint_every == 0:
                window_start = time.time()  # tokens/s measures training, not evaluation
        seconds = time.time() - began
        done = step - start
        tokens_per_second = done * tokens_per_step / max(seconds, 1e-9)
        if not validation:
            validation = self.evaluate("validation")
        sample = self.sample(config.sample_length)
        log.summary(step, train_loss, validation, seconds, tokens_per_second, sample)
        log.close()
        self._cleanup_worker_dir()
        return TrainResult(step, train_loss, validation, seconds, tokens_per_second, sample)

    def _describe(self) -> str:
        """The run in one line: what trains on what, for how long, where it is written."""
        corpus = self.task.corpus
        return (
            f"Training {self.config.model} ({self.model.count_params():,} parameters) on "
            f"{corpus.name} ({corpus.source or 'generated'}): {self.num_steps:,} steps of "
            f"{self.config.batch_size} x {self.task.sequence_length} tokens, "
            f"{self.replicas} replica(s); run directory {self.model_dir}"
        )

    def _save(self) -> None:
        # Every worker saves (it is a collective); only the chief's copy lives in model_dir.
        self.manager.save(checkpoint_number=int(self.step.numpy()))

    def _cleanup_worker_dir(self) -> None:
        if not self.chief:
            shutil.rmtree(self.out_dir, ignore_errors=True)


def save_run_files(model_dir: str, config: RunConfig, task: LanguageModelingTask) -> None:
    """Writes config.json and the tokenizer, which evaluate/export/resume rebuild the run from."""
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w", encoding="utf-8") as f:
        f.write(config.to_json())
    tokenizer_dir = os.path.join(model_dir, "tokenizer")
    if not os.path.isdir(tokenizer_dir) or not os.listdir(tokenizer_dir):
        task.tokenizer.save(tokenizer_dir)


def load_run_config(model_dir: str) -> RunConfig:
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{model_dir} is not a run directory: no config.json")
    with open(path, encoding="utf-8") as f:
        return RunConfig.from_dict(json.load(f))
