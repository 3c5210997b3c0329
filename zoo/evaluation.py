"""Evaluating a task's model on a split, under any tf.distribute strategy.

The task says what to count per batch (`eval_statistics`: sums such as the loss and its weight,
correct answers, a confusion matrix) and what the totals mean (`metrics`); this module runs the
batches on every replica, sums the counts across replicas and batches, and hands them back.
Used by the trainer during and after training and by `python -m zoo.evaluate`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf


class Evaluator:
    """Runs `task.eval_statistics` over a split with `model`, on `strategy`'s replicas.

    Example:

        evaluator = Evaluator(task, model, tf.distribute.get_strategy())
        metrics = evaluator.evaluate("validation", batch_size=64)
    """

    def __init__(self, task: Any, model: keras.Model, strategy: tf.distribute.Strategy):
        self.task = task
        self.model = model
        self.strategy = strategy
        self._step = self._make_step()

    def _make_step(self):
        task, model, strategy = self.task, self.model, self.strategy

        @tf.function
        def step(batch, carry):
            statistics, carry = strategy.run(
                lambda b, c: task.eval_statistics(model, b, c), args=(batch, carry)
            )
            totals = {k: strategy.reduce("sum", v, axis=None) for k, v in statistics.items()}
            return totals, carry

        return step

    def evaluate(
        self, split: str, batch_size: int, max_batches: int | None = None
    ) -> dict[str, Any]:
        """The task's metrics for `split`, read in global batches of `batch_size`."""
        replicas = self.strategy.num_replicas_in_sync
        carry = self.strategy.run(
            lambda: self.task.initial_carry(self.model, batch_size // replicas)
        )
        dataset = self.strategy.distribute_datasets_from_function(
            lambda ctx: self.task.eval_dataset(
                split, batch_size, max_batches=max_batches, input_context=ctx
            )
        )
        totals: dict[str, tf.Tensor] = {}
        for batch in dataset:
            counts, carry = self._step(batch, carry)
            for name, value in counts.items():  # tensors: no host sync per batch
                totals[name] = totals[name] + value if name in totals else value
        summed = {name: np.asarray(value) for name, value in totals.items()}
        return self.task.metrics(summed, split)
