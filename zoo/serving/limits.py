"""How much one request may ask of the server, checked before any tensor is built.

A gRPC TensorProto declares its shape apart from its values, and `tf.make_ndarray` broadcasts a
single value to that shape: a 39-byte request can ask for 10 million strings. So requests are
measured by their declared shapes and dtypes first, and refused (INVALID_ARGUMENT, the limit in
the message) when an input is of a type no request may carry, when all inputs together hold more
elements than `max_request_elements`, or when their batch (dimension 0) is larger than
`max_request_batch`. What a request asks a model to do (tokens to generate or score) is bounded
by the model's own signatures (`zoo.export --max_batch/--max_generate_tokens/--max_input_tokens`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from zoo.serving import ServingError

# Dtypes a request may send (tensors of resources, variants and the like are not data).
SENDABLE = {
    "DT_FLOAT", "DT_DOUBLE", "DT_HALF", "DT_BFLOAT16", "DT_INT8", "DT_INT16", "DT_INT32",
    "DT_INT64", "DT_UINT8", "DT_UINT16", "DT_UINT32", "DT_UINT64", "DT_BOOL", "DT_STRING",
    "DT_COMPLEX64", "DT_COMPLEX128",
}


@dataclasses.dataclass(frozen=True)
class Limits:
    max_request_elements: int = 1 << 22
    max_request_batch: int = 1024
    # What a request's strings may hold once broadcast to their declared shapes: no more than
    # a request may carry (--max_request_bytes), so 1 MB declared [256] is not 256 MB.
    max_request_bytes: int = 64 << 20

    def check_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> None:
        """Refuses a request whose inputs (alias -> shape) are too large, before they exist."""
        total = 0
        for alias, shape in shapes.items():
            if any(d < 0 for d in shape):
                raise ServingError("INVALID_ARGUMENT", f"input {alias}: negative dimension in "
                                                       f"shape {list(shape)}")
            total += math.prod(shape)
            if shape and shape[0] > self.max_request_batch:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"input {alias}: a batch of {shape[0]} is more than the server's limit of "
                    f"{self.max_request_batch} (--max_request_batch)",
                )
        if total > self.max_request_elements:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"the request's inputs hold {total} elements, more than the server's limit of "
                f"{self.max_request_elements} (--max_request_elements)",
            )

    def check_protos(self, protos: Mapping[str, Any]) -> None:
        """TensorProtos (alias -> proto), by their declared dtype and shape."""
        from tensorflow.core.framework import types_pb2

        shapes, string_bytes = {}, 0
        for alias, proto in protos.items():
            dtype = types_pb2.DataType.Name(proto.dtype) if proto.dtype in \
                types_pb2.DataType.values() else str(proto.dtype)
            if dtype not in SENDABLE:
                raise ServingError("INVALID_ARGUMENT",
                                   f"input {alias}: tensors of type {dtype} cannot be sent")
            if proto.tensor_shape.unknown_rank:
                raise ServingError("INVALID_ARGUMENT", f"input {alias}: the shape is unknown")
            shapes[alias] = tuple(int(d.size) for d in proto.tensor_shape.dim)
            if proto.string_val:
                string_bytes += _string_bytes(proto.string_val, shapes[alias])
        self.check_shapes(shapes)
        if string_bytes > self.max_request_bytes:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"the request's strings would hold {string_bytes} bytes once broadcast to their "
                f"shapes, more than the server's limit of {self.max_request_bytes} "
                "(--max_request_bytes)")

    def check_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.check_shapes({alias: tuple(np.shape(a)) for alias, a in arrays.items()})

    def check_examples(self, examples: Iterable[bytes]) -> None:
        count = sum(1 for _ in examples)
        self.check_shapes({"examples": (count,)})


def _string_bytes(values, shape: tuple[int, ...]) -> int:
    """The bytes of a string tensor once built: a shape larger than its values repeats them
    (`tf.make_ndarray` broadcasts one value to the whole shape)."""
    count = math.prod(shape) if shape else 1
    if count <= len(values):
        return sum(len(value) for value in values)
    return max(len(value) for value in values) * max(count, 0)
