"""A SavedModel loaded the way TF Serving loads every model: into a TensorFlow 1 session.

TF Serving restores a SavedModel's variables, runs its init/main op, wires up its assets and then
runs signatures with `Session::Run` on their tensor names, so it serves TF1 exports (a
`SavedModelBuilder` with a `ParseExample` graph, an Estimator) as well as TF2 ones. The TF2
loader (`tf.saved_model.load`) cannot rebuild some of those graphs; `zoo.serve` falls back to
this for them. `tf.compat.v1.saved_model.loader.load` does what the model server does.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from zoo.serving import ServingError
from zoo.serving.inflight import Deadline


class SessionBundle:
    """One SavedModel in its own graph and session; `run` calls a signature by tensor names."""

    def __init__(self, path: str, tags: tuple[str, ...] = ("serve",)) -> None:
        import tensorflow as tf

        v1 = tf.compat.v1
        self.graph = tf.Graph()
        self.session = v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta_graph = v1.saved_model.loader.load(self.session, list(tags), path)
        self.signature_defs = dict(meta_graph.signature_def)

    def run(self, name: str, inputs: Mapping[str, np.ndarray],
            deadline: Deadline | None = None) -> dict[str, np.ndarray]:
        import tensorflow as tf

        signature = self.signature_defs[name]
        feeds = {signature.inputs[alias].name: value for alias, value in inputs.items()}
        fetches = {alias: info.name for alias, info in signature.outputs.items()}
        options = None
        remaining = deadline.remaining() if deadline is not None else None
        if remaining is not None:
            if remaining <= 0:
                raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded")
            options = tf.compat.v1.RunOptions(timeout_in_ms=max(1, int(remaining * 1000)))
        try:
            return self.session.run(fetches, feed_dict=feeds, options=options)
        except tf.errors.DeadlineExceededError:
            raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded") from None

    def close(self) -> None:
        self.session.close()
