"""The contract between a task and the trainer: data in, loss and metrics out."""

from __future__ import annotations

import abc

import tensorflow as tf


class Task(abc.ABC):
    """A task owns its data pipeline, loss and metrics; the trainer owns the loop around them.

    Datasets are built per input pipeline (`tf.distribute.InputContext`) and yield per-replica
    batches, so one trainer serves every tf.distribute strategy.
    """

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
        """Batches for steps `start_step..num_steps-1`; the data position is the step."""

    @abc.abstractmethod
    def eval_dataset(
        self,
        split: str,
        global_batch_size: int,
        *,
        max_batches: int | None = None,
        input_context: tf.distribute.InputContext | None = None,
    ) -> tf.data.Dataset:
        """A finite pass over `split` yielding (inputs, targets, weights)."""

    @abc.abstractmethod
    def token_losses(self, targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """Per-token losses in nats; the trainer does the averaging that distribution requires."""

    @abc.abstractmethod
    def metrics(self, mean_loss: float, split: str) -> dict[str, float]:
        """Reported metrics for a split given its mean per-token loss."""
