"""A SavedModel loaded the way TF Serving loads every model: into a TensorFlow 1 session.

TF Serving restores a SavedModel's variables, runs its init/main op, wires up its assets and then
runs signatures with `Session::Run` on their tensor names, so it serves TF1 exports (a
`SavedModelBuilder` with a `ParseExample` graph, an Estimator) as well as TF2 ones. The TF2
loader (`tf.saved_model.load`) cannot rebuild some of those graphs; `zoo.serve` falls back to
this for them. `tf.compat.v1.saved_model.loader.load` does what the model server does.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping

import numpy as np

from zoo.serving import ServingError
from zoo.serving.inflight import Deadline


class SessionBundle:
    """One SavedModel in its own graph and session; `run` calls a signature by tensor names."""

    def __init__(self, path: str, tags: tuple[str, ...] = ("serve",)) -> None:
        import tensorflow as tf
        from tensorflow.python.util import deprecation

        v1 = tf.compat.v1
        self.graph = tf.Graph()
        self.session = v1.Session(graph=self.graph)
        # The loader is deprecated for training code, not for this (TF Serving's own path).
        with self.graph.as_default(), deprecation.silence():
            meta_graph = v1.saved_model.loader.load(self.session, list(tags), path)
        self.signature_defs = dict(meta_graph.signature_def)
        self._callables: dict[tuple, tuple] = {}
        self._lock = threading.Lock()

    def run(self, name: str, inputs: Mapping[str, np.ndarray],
            deadline: Deadline | None = None) -> dict[str, np.ndarray]:
        import tensorflow as tf

        timeout_ms = 0
        remaining = deadline.remaining() if deadline is not None else None
        if remaining is not None:
            if remaining <= 0:
                raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded")
            timeout_ms = _timeout_bucket(remaining)
        aliases = tuple(sorted(inputs))
        run, fetch_aliases = self._callable(name, aliases, timeout_ms)
        try:
            values = run(*(inputs[alias] for alias in aliases))
        except tf.errors.DeadlineExceededError:
            raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded") from None
        return dict(zip(fetch_aliases, values))

    def _callable(self, name: str, aliases: tuple[str, ...], timeout_ms: int):
        """A session callable for one signature, feed order and timeout.

        Written by hand over `Session.run`: its Python feed check refuses values the graph
        takes (half_plus_two's [-1, 1] `x` fed a [3] tensor), where TF Serving's C++
        `Session::Run` feeds them. A callable runs in 0.05 ms but costs ~4 ms to make, hence
        the cache and the timeout buckets.
        """
        from tensorflow.core.protobuf import config_pb2

        key = (name, aliases, timeout_ms)
        with self._lock:
            if key in self._callables:
                return self._callables[key]
        signature = self.signature_defs[name]
        fetch_aliases = tuple(sorted(signature.outputs))
        options = config_pb2.CallableOptions(
            feed=[signature.inputs[alias].name for alias in aliases],
            fetch=[signature.outputs[alias].name for alias in fetch_aliases],
        )
        options.run_options.timeout_in_ms = timeout_ms
        made = self.session._make_callable_from_options(options), fetch_aliases
        with self._lock:
            if len(self._callables) >= 256:
                self._callables.clear()
            return self._callables.setdefault(key, made)

    def close(self) -> None:
        self._callables.clear()
        self.session.close()


def _timeout_bucket(seconds: float) -> int:
    """`seconds` rounded up to a power of 2^(1/4) milliseconds: a work stops at most ~19% past
    its deadline (the client is answered at the deadline itself) and few callables are made.
    0 (no timeout) past a day: gRPC calls without a deadline have a near-infinite one."""
    if seconds > 86_400:
        return 0
    steps = math.ceil(4 * math.log2(max(seconds * 1000, 1.0)))
    return max(1, math.ceil(2 ** (steps / 4)))
