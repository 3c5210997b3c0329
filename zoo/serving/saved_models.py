"""What a model's folder holds as TF Serving reads it, for the exporter and the server alike:
version folders, the warmup file, and what in a SavedModel would need XLA."""

from __future__ import annotations

import os
import re

from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# ASCII digits only: Python's \d and str.isdigit also take other scripts' digits ("١" is 1).
_VERSION_NAME = re.compile(r"[0-9]+")


def version_folders(model_root: str) -> dict[int, str]:
    """Version number -> folder name under `model_root`: directories named by an integer
    (`007` is version 7; of two names for one number, the first in sorted order)."""
    found: dict[int, str] = {}
    entries = sorted(os.listdir(model_root)) if os.path.isdir(model_root) else []
    for entry in entries:
        if _VERSION_NAME.fullmatch(entry) and os.path.isdir(os.path.join(model_root, entry)):
            found.setdefault(int(entry), entry)
    return found


def xla_compiled(graph: meta_graph_pb2.MetaGraphDef) -> list[str]:
    """What in `graph` needs XLA: functions and call nodes marked `_XlaMustCompile` (a
    `jit_compile=True` tf.function), and nodes whose op type starts with `Xla` (as
    `XlaDynamicUpdateSlice`, which `keras.ops.slice_update` lowers to), each as `name (op)`.
    The model server runs without XLA unless told otherwise, and either one fails there."""
    functions = graph.graph_def.library.function
    marked = [f.signature.name for f in functions if _must_compile(f.attr)]
    nodes = [*graph.graph_def.node, *(n for f in functions for n in f.node_def)]
    return marked + [f"{node.name} ({node.op})" for node in nodes
                     if _must_compile(node.attr) or node.op.startswith("Xla")]


def xla_compiled_in(saved_model_dir: str) -> list[str]:
    """`xla_compiled` over every graph of the SavedModel in `saved_model_dir`."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return [name for graph in proto.meta_graphs for name in xla_compiled(graph)]


def _must_compile(attrs) -> bool:
    return "_XlaMustCompile" in attrs and attrs["_XlaMustCompile"].b
