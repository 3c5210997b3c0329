"""How a global batch splits over tf.distribute replicas, for a task's input pipelines."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from tasks.data import DataError


@dataclasses.dataclass(frozen=True)
class ReplicaLayout:
    """How a global batch splits over replicas, and which replicas this input pipeline feeds."""

    global_batch: int
    replicas: int
    pipeline: int
    pipelines: int

    @classmethod
    def of(
        cls, global_batch: int, input_context: tf.distribute.InputContext | None
    ) -> ReplicaLayout:
        if input_context is None:
            return cls(global_batch, 1, 0, 1)
        replicas = input_context.num_replicas_in_sync
        if global_batch % replicas:
            raise DataError(
                f"batch_size {global_batch} must be divisible by the {replicas} replicas"
            )
        return cls(
            global_batch, replicas, input_context.input_pipeline_id,
            input_context.num_input_pipelines,
        )

    @property
    def per_replica(self) -> int:
        return self.global_batch // self.replicas

    @property
    def local(self) -> int:
        """Replicas this pipeline feeds."""
        return self.replicas // self.pipelines

    def mine(self, rows) -> tf.Tensor:
        """[global_batch, ...] rows -> this pipeline's [local, per_replica, ...] (replica r
        always gets rows [r * per_replica, (r + 1) * per_replica))."""
        rows = tf.convert_to_tensor(rows)
        rest = [d if d is not None else tf.shape(rows)[i + 1] for i, d in
                enumerate(rows.shape[1:])]  # unknown widths (length buckets) stay dynamic
        shaped = tf.reshape(rows, [self.replicas, self.per_replica, *rest])
        return shaped[self.pipeline * self.local : (self.pipeline + 1) * self.local]

    def elements(self, batch) -> tf.data.Dataset:
        """A global batch (any structure of [global_batch, ...] tensors) as one dataset element
        per replica this pipeline feeds: what `distribute_datasets_from_function` wants."""
        return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(self.mine, batch))
