"""Tensors in and out of TF Serving's JSON and TensorProto forms, with TF Serving's rules.

JSON rules follow tensorflow_serving/util/json_tensor.cc so that REST clients cannot tell this
server from the real one: row ("instances") and columnar ("inputs") requests, `{"b64": ...}`
strings, integers that must be integral and fit, floats written in their shortest round-trip
form, and string outputs written raw unless the output alias ends in `_bytes`. Nothing here
imports TensorFlow at module load, so the JSON unit tests stay fast.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.serving import ServingError

# DataType enum name -> (numpy dtype, TensorFlow's short name used in messages).
DTYPES: dict[str, tuple[Any, str]] = {
    "DT_FLOAT": (np.float32, "float"),
    "DT_DOUBLE": (np.float64, "double"),
    "DT_HALF": (np.float16, "half"),
    "DT_INT8": (np.int8, "int8"),
    "DT_INT16": (np.int16, "int16"),
    "DT_INT32": (np.int32, "int32"),
    "DT_INT64": (np.int64, "int64"),
    "DT_UINT8": (np.uint8, "uint8"),
    "DT_UINT16": (np.uint16, "uint16"),
    "DT_UINT32": (np.uint32, "uint32"),
    "DT_UINT64": (np.uint64, "uint64"),
    "DT_BOOL": (np.bool_, "bool"),
    "DT_STRING": (object, "string"),
}
_NUMPY_TO_DT = {np.dtype(v[0]): k for k, v in DTYPES.items() if v[0] is not object}


def invalid(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def dtype_name(dt: str) -> str:
    """TensorFlow's short name for a DataType enum name ("DT_FLOAT" -> "float")."""
    return DTYPES.get(dt, (None, dt.removeprefix("DT_").lower()))[1]


def dt_of(array: np.ndarray) -> str:
    """The DataType enum name of a numpy array (object and bytes arrays are DT_STRING)."""
    if array.dtype == object or array.dtype.kind in "SU":
        return "DT_STRING"
    return _NUMPY_TO_DT.get(array.dtype, f"DT_{array.dtype.name.upper()}")


# ----------------------------------------------------------------------------- JSON requests


def loads(body: bytes) -> dict:
    """Parses a request body; TF Serving's message for anything that is not a JSON object."""
    try:
        doc = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except UnicodeDecodeError as e:
        raise invalid(f"JSON Parse error: Invalid encoding in string. at offset: {e.start}") from e
    except json.JSONDecodeError as e:
        raise invalid(f"JSON Parse error: {e.msg} at offset: {e.pos}") from e
    except RecursionError:
        raise invalid("JSON Parse error: The document is nested too deeply") from None
    if not isinstance(doc, dict):
        raise invalid("JSON Parse error: Request body is not a JSON object")
    return doc


def signature_name(doc: Mapping[str, Any]) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid("'signature_name' key must be a string value.")
    return name


def _json_type(value: Any) -> str:
    # rapidjson's type names, as TF Serving prints them.
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _type_error(value: Any, dt: str) -> ServingError:
    text = json.dumps(value, separators=(",", ":"), allow_nan=True)
    return invalid(
        f"JSON Value: {text} Type: {_json_type(value)} is not of expected type: {dtype_name(dt)}"
    )


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def decode_b64(text: Any) -> bytes:
    """Standard base64 (padding optional); URL-safe input is refused, as TF Serving does."""
    if not isinstance(text, str):
        raise invalid(f"JSON Value: {json.dumps(text)} is not a base64 string")
    try:
        padded = text + "=" * (-len(text) % 4)
        return base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise invalid(f"Unable to base64 decode: {text[:80]}") from e


def _scalar(value: Any, dt: str) -> Any:
    """One JSON leaf as a value of type `dt`, or TF Serving's type error."""
    if dt == "DT_STRING":
        if isinstance(value, str):
            return value.encode("utf-8")
        if is_b64(value):
            return decode_b64(value["b64"])
        raise _type_error(value, dt)
    if dt == "DT_BOOL":
        if isinstance(value, bool):
            return value
        raise _type_error(value, dt)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(value, dt)
    np_type = DTYPES[dt][0] if dt in DTYPES else None
    if dt in ("DT_FLOAT", "DT_DOUBLE", "DT_HALF"):
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise _type_error(value, dt) from None
    if np_type is None:
        raise ServingError("UNIMPLEMENTED", f"Conversion of JSON Value to type {dtype_name(dt)}")
    if not isinstance(value, int):  # 1.0 is a double to rapidjson, never an integer
        raise _type_error(value, dt)
    info = np.iinfo(np_type)
    if not info.min <= value <= info.max:
        raise _type_error(value, dt)
    return value


def _shape(value: Any) -> list[int]:
    """The dense shape of a nested JSON list; ragged lists are an error."""
    if not isinstance(value, list):
        return []
    if not value:
        return [0]
    inner = _shape(value[0])
    for item in value[1:]:
        other = _shape(item)
        if other != inner:
            raise invalid(
                f"Expecting tensor of shape [{','.join(map(str, inner))}] but got one of shape "
                f"[{','.join(map(str, other))}]: lists must be rectangular"
            )
    return [len(value), *inner]


def _flatten(value: Any, out: list) -> list:
    if isinstance(value, list):
        for item in value:
            _flatten(item, out)
    else:
        out.append(value)
    return out


def to_array(value: Any, dt: str, max_elements: int | None = None) -> np.ndarray:
    """A nested JSON value as a numpy array of signature dtype `dt`."""
    if dt in ("DT_BFLOAT16",):
        raise ServingError("UNIMPLEMENTED", f"REST cannot carry {dtype_name(dt)} tensors")
    if dt not in DTYPES:
        raise invalid(f"REST cannot carry tensors of type {dtype_name(dt)}")
    try:
        shape = _shape(value)
        leaves = _flatten(value, [])
    except RecursionError:
        raise invalid("a tensor is nested too deeply") from None
    if max_elements is not None and len(leaves) > max_elements:
        raise invalid(f"a tensor of {len(leaves)} elements is more than the server's limit of "
                      f"{max_elements} (--max_request_elements)")
    flat = [_scalar(v, dt) for v in leaves]
    np_type = DTYPES[dt][0]
    if np_type is object:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
    else:
        array = np.asarray(flat, dtype=np_type)
    return array.reshape(shape)


def input_mismatch(sent: set[str] | list[str], expected: set[str] | list[str]) -> ServingError:
    """TF Serving's message when request inputs and signature inputs differ."""
    sent, expected = sorted(set(sent)), sorted(set(expected))
    if len(sent) == len(expected):
        alias = next(a for a in sent if a not in expected)
        return invalid(
            f"input tensor alias not found in signature: {alias}. Inputs expected to be in the "
            f"set {{{','.join(expected)}}}."
        )
    extra = [a for a in sent if a not in expected]
    missing = [a for a in expected if a not in sent]
    return invalid(
        f"input size does not match signature: {len(sent)}!={len(expected)} "
        f"len({{{','.join(sent)}}}) != len({{{','.join(expected)}}}). "
        f"Sent extra: {{{','.join(extra)}}}. Missing but required: {{{','.join(missing)}}}."
    )


def _named(value: Any) -> bool:
    return isinstance(value, dict) and not is_b64(value)


def _rows(instances: Any, specs: Mapping[str, str],
          max_elements: int | None = None) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise invalid("Expecting 'instances' to be an list/array")
    if not instances:
        raise invalid("'instances' is empty")
    aliases = sorted(specs)
    columns: dict[str, list[np.ndarray]] = {a: [] for a in aliases}
    for i, row in enumerate(instances):
        if _named(row):
            if set(row) != set(aliases):
                raise input_mismatch(set(row), aliases)
            values = row
        elif len(aliases) == 1:
            values = {aliases[0]: row}
        else:
            raise invalid(
                f"Expecting object but got {_json_type(row).lower()} at item {i} of input list"
            )
        for alias in aliases:
            try:
                columns[alias].append(to_array(values[alias], specs[alias], max_elements))
            except ServingError as e:
                raise ServingError(
                    e.code,
                    f"Failed to process element: {i} key: {alias} of 'instances' list. "
                    f"Error: {e.message}",
                ) from e
    out = {}
    for alias, parts in columns.items():
        first = parts[0].shape
        for i, part in enumerate(parts):
            if part.shape != first:
                raise invalid(
                    f"Expecting shape [{','.join(map(str, first))}] but got "
                    f"[{','.join(map(str, part.shape))}] at item {i} of 'instances' list "
                    f"for input {alias}: all instances must have the same shape"
                )
        out[alias] = np.stack(parts) if parts[0].dtype != object else _stack_objects(parts)
    return out


def _stack_objects(parts: list[np.ndarray]) -> np.ndarray:
    flat = [value for part in parts for value in part.ravel().tolist()]
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape((len(parts), *parts[0].shape))


def _columns(inputs: Any, specs: Mapping[str, str],
             max_elements: int | None = None) -> dict[str, np.ndarray]:
    aliases = sorted(specs)
    if _named(inputs):
        if set(inputs) != set(aliases):
            raise input_mismatch(set(inputs), aliases)
        values = inputs
    elif len(aliases) == 1:
        values = {aliases[0]: inputs}
    else:
        raise invalid(
            f"Expecting 'inputs' to be an object with keys {{{','.join(aliases)}}} for a "
            "signature with several inputs"
        )
    return {alias: to_array(values[alias], specs[alias], max_elements) for alias in aliases}


def decode_predict(doc: Mapping[str, Any], specs: Mapping[str, str],
                   max_elements: int | None = None) -> tuple[dict, bool]:
    """Request tensors from a predict body; `specs` maps input alias -> DataType name.

    Returns (inputs, row_format): the reply uses "predictions" for row requests, else "outputs".
    """
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise invalid(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"
        )
    if not has_instances and not has_inputs:
        raise invalid("Missing 'inputs' or 'instances' key")
    if has_instances:
        return _rows(doc["instances"], specs, max_elements), True
    return _columns(doc["inputs"], specs, max_elements), False


# ----------------------------------------------------------------------------- JSON replies


def _format_float(value: float, single: bool) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return str(np.float32(value)) if single else repr(float(value))


def _leaves(array: np.ndarray, b64: bool) -> list[str]:
    flat = array.ravel()
    kind = array.dtype.kind
    if array.dtype == object or kind in "SU":
        out = []
        for v in flat.tolist():
            raw = v if isinstance(v, bytes) else str(v).encode("utf-8")
            if b64:
                out.append('{"b64":"' + base64.b64encode(raw).decode("ascii") + '"}')
            else:
                out.append(json.dumps(raw.decode("utf-8", errors="replace"), ensure_ascii=False))
        return out
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "iu":
        return [str(v) for v in flat.tolist()]
    if kind == "f":
        if array.dtype.itemsize > 4:
            return [_format_float(v, False) for v in flat.tolist()]
        return [_format_float(v, True) for v in flat]
    raise ServingError("UNIMPLEMENTED", f"Cannot write tensors of type {array.dtype} as JSON")


def _nest(items: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return items[0]
    if len(shape) == 1:
        return "[" + ",".join(items) + "]"
    step = math.prod(shape[1:])
    parts = (_nest(items[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0]))
    return "[" + ",".join(parts) + "]"


def value_json(array: np.ndarray, alias: str) -> str:
    """One tensor as JSON text; `*_bytes` aliases carry strings as {"b64": ...}."""
    array = np.asarray(array)
    return _nest(_leaves(array, alias.endswith("_bytes")), array.shape)


def encode_predict(outputs: Mapping[str, np.ndarray], row_format: bool) -> str:
    """The reply body for a predict: {"predictions": [...]} or {"outputs": ...}."""
    aliases = sorted(outputs)
    if not row_format:
        if len(aliases) == 1:
            return '{"outputs": ' + value_json(outputs[aliases[0]], aliases[0]) + "}"
        body = ",".join(
            json.dumps(a) + ": " + value_json(outputs[a], a) for a in aliases
        )
        return '{"outputs": {' + body + "}}"
    batch = None
    for alias in aliases:
        array = np.asarray(outputs[alias])
        if array.ndim == 0:
            raise invalid(f"Tensor name: {alias} has no shape information ")
        if batch is None:
            batch = array.shape[0]
        elif array.shape[0] != batch:
            raise invalid(
                f"Tensor name: {alias} has inconsistent batch size: {array.shape[0]} "
                f"expecting: {batch}"
            )
    rows = []
    for i in range(batch or 0):
        if len(aliases) == 1:
            rows.append(value_json(np.asarray(outputs[aliases[0]])[i], aliases[0]))
        else:
            fields = (
                json.dumps(a) + ": " + value_json(np.asarray(outputs[a])[i], a) for a in aliases
            )
            rows.append("{" + ",".join(fields) + "}")
    return '{"predictions": [' + ",".join(rows) + "]}"


def error_json(message: str) -> str:
    return '{ "error": ' + json.dumps(message, ensure_ascii=False) + " }"


# ----------------------------------------------------------------------------- tf.Example


def _feature(name: str, value: Any) -> Any:
    from tensorflow.core.example import feature_pb2

    values = value if isinstance(value, list) else [value]
    feature = feature_pb2.Feature()
    if all(isinstance(v, str) or is_b64(v) for v in values) and values:
        feature.bytes_list.value.extend(
            decode_b64(v["b64"]) if is_b64(v) else v.encode("utf-8") for v in values
        )
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        feature.int64_list.value.extend(values)
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        feature.float_list.value.extend(float(v) for v in values)
    else:
        raise invalid(f"Feature '{name}' has an unsupported or mixed-type value: {value!r}")
    return feature


def examples_from_json(doc: Mapping[str, Any]) -> list[bytes]:
    """Serialized tf.Examples from a classify/regress body ("examples" plus optional "context")."""
    from tensorflow.core.example import example_pb2

    examples = doc.get("examples")
    if not isinstance(examples, list):
        raise invalid("Expecting 'examples' to be an list/array")
    if not examples:
        raise invalid("'examples' is empty")
    context = doc.get("context", {})
    if not isinstance(context, dict):
        raise invalid("Expecting 'context' to be an object")
    out = []
    for i, item in enumerate(examples):
        if not isinstance(item, dict):
            raise invalid(f"Expecting object but got {_json_type(item).lower()} at item {i}")
        example = example_pb2.Example()
        for name, value in {**context, **item}.items():
            example.features.feature[name].CopyFrom(_feature(name, value))
        out.append(example.SerializeToString())
    return out


def classify_json(classes: np.ndarray | None, scores: np.ndarray | None) -> str:
    """{"results": [[[label, score], ...], ...]} as TF Serving writes classification results."""
    ref = scores if scores is not None else classes
    rows = []
    for i in range(ref.shape[0]):
        pairs = []
        for j in range(ref.shape[1]):
            label = classes[i][j] if classes is not None else b""
            label = label if isinstance(label, bytes) else str(label).encode()
            score = float(scores[i][j]) if scores is not None else 0.0
            pairs.append(
                "[" + json.dumps(label.decode("utf-8", "replace"), ensure_ascii=False) + ", "
                + _format_float(score, True) + "]"
            )
        rows.append("[" + ", ".join(pairs) + "]")
    return '{"results": [' + ", ".join(rows) + "]}"


def regress_json(values: np.ndarray) -> str:
    return '{"results": [' + ", ".join(_format_float(float(v), True) for v in values) + "]}"


# ----------------------------------------------------------------------------- TensorProto


def from_tensor_proto(proto: Any) -> np.ndarray:
    """A numpy array from a TensorProto (typed fields or tensor_content)."""
    import tensorflow as tf

    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as e:
        raise invalid(f"Cannot parse tensor proto: {e}") from e


_PROTO_FIELD = {
    "DT_FLOAT": "float_val",
    "DT_DOUBLE": "double_val",
    "DT_INT32": "int_val",
    "DT_INT16": "int_val",
    "DT_INT8": "int_val",
    "DT_UINT8": "int_val",
    "DT_UINT16": "int_val",
    "DT_INT64": "int64_val",
    "DT_UINT32": "uint32_val",
    "DT_UINT64": "uint64_val",
    "DT_BOOL": "bool_val",
    "DT_STRING": "string_val",
}


def to_tensor_proto(array: np.ndarray) -> Any:
    """A TensorProto with typed value fields, as TF Serving replies (clients read `float_val`)."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

    array = np.asarray(array)
    dt = dt_of(array)
    field = _PROTO_FIELD.get(dt)
    if field is None:
        import tensorflow as tf

        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DataType.Value(dt))
    proto.tensor_shape.CopyFrom(
        tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape]
        )
    )
    flat = array.ravel()
    if dt == "DT_STRING":
        getattr(proto, field).extend(
            v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat.tolist()
        )
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


def examples_from_proto(request_input: Any) -> list[bytes]:
    """Serialized tf.Examples from an `Input` proto; context features are added to each."""
    from tensorflow.core.example import example_pb2

    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in request_input.example_list.examples]
    if kind == "example_list_with_context":
        listed = request_input.example_list_with_context
        out = []
        for example in listed.examples:
            merged = example_pb2.Example()
            merged.CopyFrom(listed.context)
            for name, feature in example.features.feature.items():
                merged.features.feature[name].CopyFrom(feature)
            out.append(merged.SerializeToString())
        return out
    raise invalid("Input is empty.")
