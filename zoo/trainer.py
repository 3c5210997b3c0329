"""The one training loop, for every tf.distribute strategy and every task.

Keras 3.15's `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so the
loop is ours: `strategy.run` over a distributed dataset inside a `tf.function`. It knows no
particular task: the task gives the batches, the loss as a (sum, weight) pair, the metrics, any
state carried from one batch into the next, and the end-of-run report. Everything a run needs to
continue after `kill -9` is checkpointed: weights, optimizer slots, the step (which is also the
data position: a task's training batches are keyed by step), the dropout RNG states and the
carried state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from tasks import run_files
from zoo import checkpoints
from zoo.config import ConfigError, RunConfig
from zoo.distribute import is_chief, make_strategy, worker_dir
from zoo.evaluation import Evaluator
from zoo.optimizers import make_optimizer
from zoo.precision import Precision
from zoo.precision import choose as choose_precision
from zoo.process_clock import seconds_since_process_start
from zoo.run_log import RunLog


@dataclasses.dataclass
class TrainResult:
    step: int
    train_loss: float
    validation: dict[str, Any]
    seconds: float
    tokens_per_second: float
    report: dict[str, str]

    @property
    def sample(self) -> str:
        """The language-model task's end-of-run text sample ('' for other tasks)."""
        return self.report.get("sample", "")


def total_steps(config: RunConfig, steps_per_epoch: int) -> int:
    if config.epochs is not None:
        return max(1, math.ceil(config.epochs * steps_per_epoch))
    if not config.train_steps or config.train_steps < 1:
        raise ConfigError("set train_steps to a positive number or give epochs")
    return config.train_steps


class Trainer:
    """Trains `build_model()` on `task` into `model_dir`, resuming if the directory holds a run.

    `build_model(dtype_policy)` makes the task's model (backbone and head) and is called under the
    strategy's scope; `describe` names the run in its first log line; `precision` is the one
    `zoo.precision` chose (default: from the config, as if the step had no matmul FLOPs).

    Example:

        task = LanguageModelingTask("tiny_shakespeare", tokenizer, sequence_length=64)
        trainer = Trainer(RunConfig(train_steps=100), "runs/demo", task,
                          lambda dtype: task.build_model(make_backbone(dtype)))
        result = trainer.fit()
    """

    def __init__(
        self,
        config: RunConfig,
        model_dir: str,
        task: Any,
        build_model: Callable[[str], keras.Model],
        strategy: tf.distribute.Strategy | None = None,
        describe: str = "",
        precision: Precision | None = None,
    ):
        # config.json keeps what was asked (`auto`), so rerunning the command finds the run and
        # resumes it; the run trains with what was chosen.
        self.precision = precision or choose_precision(config.mixed_precision,
                                                       config.jit_compile, 0.0)
        self.requested_config = config
        config = dataclasses.replace(
            config,
            mixed_precision=self.precision.mixed_precision,
            jit_compile=self.precision.jit_compile,
        )
        self.config = config
        self.model_dir = model_dir
        self.task = task
        self.describe = describe or config.model
        self.strategy = strategy or make_strategy(config.strategy)
        self.chief = is_chief(self.strategy)
        self.out_dir = worker_dir(model_dir, self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % self.replicas:
            raise ConfigError(
                f"batch_size {config.batch_size} must be divisible by the {self.replicas} replicas"
            )
        steps_per_epoch = task.steps_per_epoch(config.batch_size)
        self.num_steps = total_steps(config, steps_per_epoch)
        with self.strategy.scope():
            self.model = build_model(self.precision.policy)
            self.optimizer = make_optimizer(config, self.num_steps, steps_per_epoch)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.carry = self._make_carry()
        self.checkpoint = tf.train.Checkpoint(
            weights=checkpoints.model_variables(self.model),
            optimizer=self.optimizer,
            step=self.step,
            carried_state=tf.nest.flatten(self.carry),
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint,
            os.path.join(self.out_dir, checkpoints.DIRECTORY),
            max_to_keep=config.keep_checkpoints,
        )
        self._train_step = self._make_train_step()
        self.evaluator = Evaluator(task, self.model, self.strategy)

    # ----------------------------------------------------------------------------- steps

    def _make_carry(self):
        """Per-replica variables holding what the task carries from one batch into the next."""
        per_replica = self.config.batch_size // self.replicas
        initial = self.task.initial_carry(self.model, per_replica)
        # ON_READ: each replica keeps its own rows' state (checkpoints store replica 0's copy).
        return tf.nest.map_structure(
            lambda z: tf.Variable(
                z,
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            ),
            initial,
        )

    def _make_train_step(self):
        model, optimizer, task = self.model, self.optimizer, self.task
        clip = self.config.clip_norm
        replicas = self.replicas
        scaled_loss = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        carried = self.carry

        @tf.function(jit_compile=self.config.jit_compile)
        def loss_and_gradients(batch, carry):
            with tf.GradientTape() as tape:
                loss_sum, weight, carry = task.loss(model, batch, carry, training=True)
                loss = tf.math.divide_no_nan(loss_sum, weight)  # this replica's mean
                scaled = optimizer.scale_loss(loss) if scaled_loss else loss
            return loss_sum, weight, tape.gradient(scaled, model.trainable_variables), carry

        def replica_step(batch):
            carry = tf.nest.map_structure(lambda v: v.read_value(), carried)
            loss_sum, weight, grads, carry = loss_and_gradients(batch, carry)
            tf.nest.map_structure(lambda v, s: v.assign(tf.stop_gradient(s)), carried, carry)
            context = tf.distribute.get_replica_context()
            if replicas > 1:
                # Each replica's mean, weighted by its share of all the weight: once the
                # optimizer sums over replicas, every target of the global batch counts alike.
                share = tf.math.divide_no_nan(weight, context.all_reduce("sum", weight))
                grads = [g * tf.cast(share, g.dtype) for g in grads]
            if clip:
                # Keras would clip each replica's partial gradient before its all-reduce; global
                # norm clipping needs the summed gradient, so reduce first. The optimizer sums
                # again across replicas, hence the division (costs one extra all-reduce).
                if replicas > 1:
                    grads = context.all_reduce("sum", grads)
                scale = optimizer.scale_loss(1.0) if scaled_loss else 1.0
                grads, _ = tf.clip_by_global_norm(grads, clip * scale)
                if replicas > 1:
                    grads = [g / replicas for g in grads]
            optimizer.apply(grads, model.trainable_variables)
            return loss_sum, weight

        # The optimizer's update stays outside XLA. Compiled with the gradient into one program
        # it saved 10% of transformer_lm_tiny's step (84.7 -> 75.9 ms at batch 12), but the
        # copy-attention summarizer then ran 15x slower (30 steps: 16.6 -> 244 s) and crashed
        # XLA's CPU runtime with a segmentation fault in the test suite.

        def one_step(iterator):
            loss_sum, weight = self.strategy.run(replica_step, args=(next(iterator),))
            self.step.assign_add(1)
            return (
                self.strategy.reduce("sum", loss_sum, axis=None),
                self.strategy.reduce("sum", weight, axis=None),
            )

        @tf.function
        def train_steps(iterator, count):
            # Several steps per call (Keras' steps_per_execution): Python's dispatch of each
            # call costs ~7-10% of a small model's step on a CPU (measured, transformer_lm_tiny).
            # One loop, so the model and its gradient are traced once.
            # Summed in float64, as _mean_loss sums single steps: a window's loss is then the
            # same number however many steps each call ran.
            loss_sum, weight = tf.zeros((), tf.float64), tf.zeros((), tf.float64)
            for _ in tf.range(count):
                step_loss, step_weight = one_step(iterator)
                loss_sum += tf.cast(step_loss, tf.float64)
                weight += tf.cast(step_weight, tf.float64)
            return loss_sum, weight

        return train_steps

    # ----------------------------------------------------------------------------- public

    def restore(self) -> int:
        """Restores the newest good checkpoint, if any; returns the step it resumes from.
        Leftovers of a save that a kill interrupted go first (the chief owns model_dir)."""
        if self.chief:
            for name in checkpoints.remove_unfinished(self.model_dir):
                print(f"Removed {name}/, a checkpoint a kill left unfinished", flush=True)
        checkpoints.restore_newest_good(self.checkpoint, self.model_dir)
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

    def train_step(self, iterator, count: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
        """`count` optimizer steps on the next global batches in one call; returns their
        (loss sum, weight)."""
        return self._train_step(iterator, tf.constant(count, tf.int32))

    def _steps_to_next_stop(self, step: int, every: tuple[int, ...]) -> int:
        """Steps from `step` to the next one where the loop must look (log, evaluate, save,
        end), at most `steps_per_execution`."""
        stops = [self.num_steps, step + self.config.steps_per_execution]
        stops += [(step // n + 1) * n for n in every]
        return min(stops) - step

    def evaluate(self, split: str = "validation", whole: bool = False) -> dict[str, Any]:
        """The task's metrics over `split`: its first `eval_batches` batches where that caps the
        evaluations during training, all of it when `whole` (the run's final figures)."""
        batch = self.task.eval_batch_size(self.config.batch_size, self.replicas)
        return self.evaluator.evaluate(split, batch, None if whole else self.config.eval_batches)

    def fit(self) -> TrainResult:
        config = self.config
        timing: dict[str, float] = {}
        clock = _Stopwatch(timing)
        start = self.restore()
        log = RunLog(self.out_dir, enabled=self.chief)
        if self.chief:
            self._save_run_files()
        if start:
            log.info(f"Resuming {self.model_dir} from step {start}/{self.num_steps}")
        else:
            log.info(self._first_line())
        log.info(f"Precision: {self.precision.describe()}")
        iterator = self.train_iterator(start)
        progress = log.progress(self.num_steps, start, every=config.log_every)
        summary_every = config.log_every or 10
        tokens_per_step = self.task.tokens_per_step(config.batch_size)
        # A resumed run carries on the clock and the loss of the part before (when it resumes
        # at its last step, nothing is left to train and those are its figures).
        before = log.last_record() if start else {}
        prior_seconds = float(before.get("train_seconds", 0.0))
        train_loss = float(before.get("train_loss", float("nan")))
        began = time.time()
        # Everything before the loop (imports, data, building, restoring) is start-up, so the
        # parts add up to the process's wall time (zoo.run_log.format_timing).
        timing["startup"] = seconds_since_process_start()
        window_start, window, window_step = time.time(), [], start
        validation: dict[str, Any] = {}
        step = start
        stops = (summary_every, progress.every, config.eval_every, config.checkpoint_every)
        while step < self.num_steps:
            if step == start:
                with clock("first_step"):  # tracing and XLA compilation
                    window.append(self.train_step(iterator))
                    float(window[-1][0])
                count = 1
            else:
                count = self._steps_to_next_stop(step, stops)
                window.append(self.train_step(iterator, count))
            step += count
            last = step == self.num_steps
            if step % summary_every == 0 or progress.wants_line(step):
                train_loss = _mean_loss(window)
                if not math.isfinite(train_loss):
                    raise FloatingPointError(
                        f"training diverged at step {step} (loss {train_loss}); "
                        "lower --learning_rate or set --clip_norm"
                    )
                elapsed = time.time() - window_start
                speed = (step - window_step) * tokens_per_step / max(elapsed, 1e-9)
                lr = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
                log.train(step, train_loss, lr, speed)
                progress.update(step, train_loss, speed)
                window_start, window, window_step = time.time(), [], step
            if step % config.eval_every == 0 or last:
                with clock("evaluation"):  # with its records and plot
                    validation = self.evaluate("validation", whole=last)
                    log.evaluation(step, train_loss, validation,
                                   prior_seconds + time.time() - began)
                    progress.evaluation(step, validation)
            if step % config.checkpoint_every == 0 or last:
                with clock("checkpoints"):
                    self._save()
            if step % config.eval_every == 0 or step % config.checkpoint_every == 0:
                window_start = time.time()  # tokens/s measures training, not evaluation
        seconds = prior_seconds + time.time() - began
        tokens_per_second = step * tokens_per_step / max(seconds, 1e-9)
        with clock("evaluation"):
            if not validation:
                validation = self.evaluate("validation", whole=True)
            validation.update(self.task.extra_metrics(self.model, "validation"))
        with clock("report"):
            report = self.task.report(self.model, jit_compile=config.jit_compile)
        timing["training"] = time.time() - began - sum(
            timing.get(k, 0.0) for k in ("first_step", "evaluation", "checkpoints", "report"))
        log.summary(step, train_loss, validation, seconds, tokens_per_second, report, timing)
        log.close()
        self._cleanup_worker_dir()
        return TrainResult(step, train_loss, validation, seconds, tokens_per_second, report)

    def _first_line(self) -> str:
        """The run in one line: what trains on what, for how long, where it is written."""
        tokens = self.task.tokens_per_step(self.config.batch_size)
        return (
            f"Training {self.describe} ({self.model.count_params():,} parameters) for "
            f"{self.task.name} on {self.task.describe_data()}: {self.num_steps:,} steps of "
            f"batch {self.config.batch_size} ({tokens:,} tokens), {self.replicas} replica(s); "
            f"run directory {self.model_dir}"
        )

    def _save_run_files(self) -> None:
        """config.json and the task's files (tokenizer...), which every later command reads."""
        os.makedirs(self.model_dir, exist_ok=True)
        run_files.write_atomically(os.path.join(self.model_dir, run_files.CONFIG),
                                   self.requested_config.to_json())
        self.task.save(self.model_dir)

    def _save(self) -> None:
        # Every worker saves (it is a collective); only the chief's copy lives in model_dir.
        self.manager.save(checkpoint_number=int(self.step.numpy()))

    def _cleanup_worker_dir(self) -> None:
        if not self.chief:
            shutil.rmtree(self.out_dir, ignore_errors=True)


class _Stopwatch:
    """`with clock("part"):` adds the block's wall seconds to `timing["part"]`."""

    def __init__(self, timing: dict[str, float]):
        self.timing = timing

    @contextlib.contextmanager
    def __call__(self, part: str):
        began = time.time()
        try:
            yield
        finally:
            self.timing[part] = self.timing.get(part, 0.0) + time.time() - began


def _mean_loss(window: list[tuple[tf.Tensor, tf.Tensor]]) -> float:
    """The mean loss over some steps' (loss sum, weight) pairs: each target counts alike."""
    total = sum(float(loss_sum) for loss_sum, _ in window)
    weight = sum(float(w) for _, w in window)
    return total / weight if weight else float("nan")

