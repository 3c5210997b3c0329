"""Dynamic batching: concurrent requests for one signature of one version run as one call.

As TF Serving's BasicBatchScheduler: a request joins the open batch of its (version, signature)
queue if it fits within max_batch_size (and its tensors have the same trailing shapes, or
pad_variable_length_inputs is set); a batch runs when full or batch_timeout_micros after it
opened, on one of num_batch_threads threads; the merged result is split back by each request's
dim-0 size. More than max_enqueued_batches waiting batches is UNAVAILABLE (503 over REST).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping

import numpy as np

from zoo.serving import ServingError
from zoo.serving.config import BatchingParameters
from zoo.serving.inflight import Deadline
from zoo.serving.servable import Servable


class _Task:
    __slots__ = ("inputs", "size", "deadline", "done", "outputs", "error")

    def __init__(self, inputs: Mapping[str, np.ndarray], size: int,
                 deadline: Deadline | None) -> None:
        self.inputs, self.size, self.deadline = inputs, size, deadline
        self.done = threading.Event()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: ServingError | None = None


class _Batch:
    def __init__(self, shapes: tuple) -> None:
        self.shapes = shapes
        self.tasks: list[_Task] = []
        self.size = 0
        self.opened = time.monotonic()
        self.closed = False


class _Queue:
    def __init__(self, servable: Servable, signature: str) -> None:
        self.servable, self.signature = servable, signature
        self.batches: collections.deque[_Batch] = collections.deque()


class Batcher:
    """A `models.Runner` that merges concurrent calls; start threads with `start()`."""

    def __init__(self, params: BatchingParameters) -> None:
        self.params = params
        self._cond = threading.Condition()
        self._queues: dict[tuple[int, str], _Queue] = {}
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(params.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def __call__(
        self, servable: Servable, signature: str, inputs: Mapping[str, np.ndarray],
        deadline: Deadline | None = None,
    ) -> dict[str, np.ndarray]:
        sizes = {v.shape[0] if v.ndim else None for v in inputs.values()}
        if not inputs or None in sizes:
            return servable.call(signature, inputs, deadline)  # nothing to batch along
        if len(sizes) != 1:
            raise ServingError(
                "INVALID_ARGUMENT",
                "Batching session Run() input tensors must have equal 0th-dimension size",
            )
        size = sizes.pop()
        limit = self.params.max_batch_size
        if size > limit:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Task size {size} is larger than maximum input batch size {limit}",
            )
        task = _Task(inputs, size, deadline)
        with self._cond:
            key = (id(servable), signature)
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(servable, signature)
            shapes = self._shapes(inputs)
            batch = queue.batches[-1] if queue.batches else None
            if batch is None or batch.closed or batch.size + size > limit or batch.shapes != shapes:
                if batch is not None:
                    batch.closed = True
                if len(queue.batches) >= self.params.max_enqueued_batches:
                    raise ServingError(
                        "UNAVAILABLE",
                        "The batch scheduling queue to which this task was submitted is full",
                    )
                batch = _Batch(shapes)
                queue.batches.append(batch)
            batch.tasks.append(task)
            batch.size += size
            if batch.size >= limit:
                batch.closed = True
            self._cond.notify_all()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _shapes(self, inputs: Mapping[str, np.ndarray]) -> tuple:
        pad = self.params.pad_variable_length_inputs
        return tuple(
            (alias, v.dtype.str, v.ndim if pad else v.shape[1:])
            for alias, v in sorted(inputs.items())
        )

    # ----------------------------------------------------------------- batch threads

    def _next(self) -> tuple[_Queue | None, _Batch | None, float | None]:
        """The oldest runnable batch, or when the next one becomes runnable."""
        now = time.monotonic()
        timeout = self.params.batch_timeout_micros / 1e6
        best, wake = None, None
        for key, queue in self._queues.items():
            batch = queue.batches[0]
            due = batch.opened + timeout
            if batch.closed or due <= now:
                if best is None or batch.opened < best[2].opened:
                    best = (key, queue, batch)
            else:
                wake = due if wake is None else min(wake, due)
        if best is None:
            return None, None, None if wake is None else max(wake - now, 0.0)
        key, queue, batch = best
        queue.batches.popleft()
        batch.closed = True
        if not queue.batches:
            del self._queues[key]
        return queue, batch, None

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    queue, batch, wait = self._next()
                    if batch is not None:
                        break
                    self._cond.wait(wait)
            self._run(queue, batch)

    def _run(self, queue: _Queue, batch: _Batch) -> None:
        late = [t for t in batch.tasks if t.deadline is not None and t.deadline.expired()]
        for task in late:  # their clients have had their answer (504): skip their rows
            task.error = ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded")
            task.done.set()
        tasks = [t for t in batch.tasks if t not in late]
        if not tasks:
            return
        batch.size = sum(t.size for t in tasks)
        try:
            total = batch.size
            padded = next((s for s in self.params.allowed_batch_sizes if s >= total), total)
            merged = {
                alias: self._merge([t.inputs[alias] for t in tasks], padded - total)
                for alias in tasks[0].inputs
            }
            outputs = queue.servable.call(queue.signature, merged, _latest(tasks))
            for alias, value in outputs.items():
                if value.ndim == 0 or value.shape[0] != padded:
                    raise ServingError(
                        "FAILED_PRECONDITION",
                        f"Batched output tensor {alias}'s 0th dimension does not equal the sum of "
                        "the 0th dimension sizes of the input tensors",
                    )
            start = 0
            for task in tasks:
                task.outputs = {a: v[start : start + task.size] for a, v in outputs.items()}
                start += task.size
        except ServingError as e:
            for task in tasks:
                task.error = e
        except Exception as e:  # never leave a request waiting forever
            for task in tasks:
                task.error = ServingError("INTERNAL", f"{type(e).__name__}: {e}")
        finally:
            for task in tasks:
                task.done.set()

    def _merge(self, parts: list[np.ndarray], extra_rows: int) -> np.ndarray:
        if self.params.pad_variable_length_inputs and len({p.shape[1:] for p in parts}) > 1:
            target = tuple(max(p.shape[d] for p in parts) for d in range(1, parts[0].ndim))
            parts = [_pad(p, target) for p in parts]
        merged = np.concatenate(parts, axis=0)
        if extra_rows:
            filler = np.repeat(merged[:1], extra_rows, axis=0)
            merged = np.concatenate([merged, filler], axis=0)
        return merged


def _latest(tasks: list[_Task]) -> Deadline | None:
    """The batch runs until its last request's deadline (None: one of them has none)."""
    if any(t.deadline is None or t.deadline.at is None for t in tasks):
        return None
    return max((t.deadline for t in tasks), key=lambda d: d.at)


def _pad(array: np.ndarray, target: tuple[int, ...]) -> np.ndarray:
    widths = [(0, 0)] + [(0, t - s) for s, t in zip(array.shape[1:], target)]
    fill = b"" if array.dtype == object else 0
    if array.dtype == object:
        out = np.full((array.shape[0], *target), fill, dtype=object)
        out[tuple(slice(0, s) for s in array.shape)] = array
        return out
    return np.pad(array, widths, constant_values=fill)
