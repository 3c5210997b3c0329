"""One loaded version of a model (a `Servable`): its signature defs, and how its signatures run
with TF Serving's checks and messages (TF2 functions, or a TF1 session as TF Serving runs one).

The versions themselves (discovery, loading, swaps) are `manager.py`'s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from absl import logging
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from zoo.serving import ServingError, tensors
from zoo.serving.inflight import Deadline, InFlight
from zoo.serving.op_errors import op_message
from zoo.serving.saved_models import WARMUP_FILE, xla_compiled

PREDICT = "tensorflow/serving/predict"
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
MAX_WARMUP_RECORDS = 1000

_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}

# runner(servable, signature_name, inputs, deadline) -> outputs: direct, or through the dynamic
# batcher.
Runner = Callable[["Servable", str, Mapping[str, np.ndarray], Deadline | None],
                  dict[str, np.ndarray]]


def status_of(error: BaseException) -> ServingError:
    """Any failure as a ServingError: TF op errors keep their canonical code."""
    if isinstance(error, ServingError):
        return error
    if isinstance(error, tf.errors.OpError):
        return ServingError(_CODE_NAMES.get(error.error_code, "UNKNOWN"), op_message(error))
    if isinstance(error, OSError):  # a version's files: missing, unreadable, not a model
        code = ("NOT_FOUND" if isinstance(error, (FileNotFoundError, NotADirectoryError))
                else "PERMISSION_DENIED" if isinstance(error, PermissionError)
                else "FAILED_PRECONDITION")
        return ServingError(code, f"{error.strerror or error}: {error.filename or ''}".strip(": "))
    if isinstance(error, (TypeError, ValueError, OverflowError, RecursionError)):
        return ServingError("INVALID_ARGUMENT", str(error).strip().splitlines()[0] if str(
            error).strip() else type(error).__name__)
    return ServingError("UNKNOWN", f"{type(error).__name__}: {error}")


def read_meta_graph(path: str) -> meta_graph_pb2.MetaGraphDef:
    """The `serve` MetaGraphDef of a SavedModel: signature defs exactly as the real server sees."""
    proto = saved_model_pb2.SavedModel()
    binary, text = os.path.join(path, "saved_model.pb"), os.path.join(path, "saved_model.pbtxt")
    try:
        if os.path.exists(binary):
            with open(binary, "rb") as f:
                proto.ParseFromString(f.read())
        elif os.path.exists(text):
            with open(text, encoding="utf-8") as f:
                text_format.Parse(f.read(), proto)
        else:
            raise ServingError(
                "NOT_FOUND",
                f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: "
                f"{path}",
            )
    except ServingError:
        raise
    except Exception as e:  # a DecodeError or ParseError: garbage in saved_model.pb
        raise ServingError(
            "DATA_LOSS", f"Can't parse {path}/saved_model.pb as binary proto: {e}"
        ) from e
    for graph in proto.meta_graphs:
        if "serve" in graph.meta_info_def.tags:
            return graph
    raise ServingError(
        "NOT_FOUND", f"Could not find meta graph def matching supplied tags: {{ serve }}. In {path}"
    )


class Servable:
    """One loaded version of a model: its signature defs and the functions that run them.

    TF1 exports (no object graph), and TF2 ones the TF2 loader cannot rebuild, are loaded as
    TF Serving loads every model: into a session (`session_bundle`). Other TF2 exports go
    through `tf.saved_model.load`, whose calls can be cancelled op by op. With
    `method_name_check` (TF Serving's --enable_signature_method_name_check, off by default)
    Predict, Classify and Regress insist on their signatures' method names.
    """

    def __init__(self, name: str, version: int, path: str, *, xla_enabled: bool = False,
                 inflight: InFlight | None = None, method_name_check: bool = False) -> None:
        self.name, self.version, self.path = name, version, path
        self.inflight = inflight or InFlight()
        self.method_name_check = method_name_check
        graph = read_meta_graph(path)
        if not xla_enabled:
            marked = xla_compiled(graph)
            if marked:
                raise ServingError(
                    "FAILED_PRECONDITION",
                    f"{path} needs XLA (jit_compile=True, _XlaMustCompile) in "
                    f"{', '.join(sorted(set(marked))[:3])}; XLA is disabled, as in TF Serving: "
                    "re-export without jit_compile or start with --xla_cpu_compilation_enabled",
                )
        self.signature_defs = dict(graph.signature_def)
        self._session = None
        self._functions = {}
        if not graph.object_graph_def.nodes:  # a TF1 export: load it as TF Serving does
            self._session = self._load_session(path)
            return
        try:
            self._loaded = tf.saved_model.load(path, tags=["serve"])
            self._functions = dict(self._loaded.signatures)
        except Exception as tf2_error:
            try:
                self._session = self._load_session(path)
            except Exception:
                raise tf2_error from None
            logging.info("%s version %d: loaded into a TF1 session (the TF2 loader could not: %s)",
                         name, version, str(tf2_error).splitlines()[0] if str(tf2_error) else "")

    @staticmethod
    def _load_session(path: str):
        from zoo.serving.session_bundle import SessionBundle

        return SessionBundle(path)

    # ----------------------------------------------------------------- signatures

    def signature(self, name: str) -> tuple[str, meta_graph_pb2.SignatureDef]:
        """(resolved name, def); gRPC's FAILED_PRECONDITION for an unknown name."""
        name = name or DEFAULT_SIGNATURE
        if name not in self.signature_defs:
            raise ServingError(
                "FAILED_PRECONDITION", f'Serving signature key "{name}" not found.'
            )
        return name, self.signature_defs[name]

    def input_dtypes(self, name: str) -> dict[str, str]:
        """Input alias -> DataType name, for REST parsing (TF Serving's REST message)."""
        name = name or DEFAULT_SIGNATURE
        if name not in self.signature_defs:
            raise ServingError(
                "INVALID_ARGUMENT", f'Serving signature name: "{name}" not found in signature def'
            )
        return {
            alias: types_pb2.DataType.Name(info.dtype)
            for alias, info in self.signature_defs[name].inputs.items()
        }

    def call(self, name: str, inputs: Mapping[str, np.ndarray],
             deadline: Deadline | None = None) -> dict[str, np.ndarray]:
        """Runs signature `name` as is (inputs already checked); numpy in, numpy out. The work
        stops at `deadline` (DEADLINE_EXCEEDED) or when the server stops."""
        if name not in self.signature_defs or (self._session is None and
                                               name not in self._functions):
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
        try:
            if self._session is not None:
                return self._session.run(name, inputs, deadline)
            dtypes = self.input_dtypes(name)
            args = {
                a: tf.constant(value, dtype=tf.as_dtype(types_pb2.DataType.Value(dtypes[a])))
                for a, value in inputs.items()
            }
            outputs = self.inflight.run(self._functions[name], args, deadline)
            return {alias: tensor.numpy() for alias, tensor in outputs.items()}
        except Exception as e:
            raise status_of(e) from e

    # ----------------------------------------------------------------- APIs

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: list[str] | tuple[str, ...] = (),
        runner: Runner | None = None,
        deadline: Deadline | None = None,
    ) -> tuple[str, dict[str, np.ndarray]]:
        """TF Serving's Predict: checks inputs and filter, runs, returns (signature, outputs)."""
        name, sig = self.signature(signature_name)
        if self.method_name_check and sig.method_name not in (PREDICT, CLASSIFY, REGRESS):
            raise ServingError(
                "INTERNAL",
                "Expected prediction signature method_name to be one of {"
                f"{PREDICT}, {CLASSIFY}, {REGRESS}}}. Was: {sig.method_name}",
            )
        if set(inputs) != set(sig.inputs):
            raise tensors.input_mismatch(set(inputs), set(sig.inputs))
        for index, alias in enumerate(sorted(sig.inputs)):
            info, value = sig.inputs[alias], inputs[alias]
            want, got = types_pb2.DataType.Name(info.dtype), tensors.dt_of(value)
            if want != got:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Expects arg[{index}] to be {tensors.dtype_name(want)} but "
                    f"{tensors.dtype_name(got)} is provided",
                )
        # No shape check: as TF Serving (predict_util.cc), the graph takes what it can
        # (half_plus_two's [-1, 1] input answers a [1] tensor).
        seen = set()
        for alias in output_filter:
            if alias not in sig.outputs:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"output tensor alias not found in signature: {alias} Outputs expected to be "
                    f"in the set {{{','.join(sorted(sig.outputs))}}}.",
                )
            if alias in seen:
                raise ServingError("INVALID_ARGUMENT", f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        outputs = (runner or Servable.call)(self, name, inputs, deadline)
        if output_filter:
            outputs = {alias: outputs[alias] for alias in output_filter}
        return name, outputs

    def classify(
        self, signature_name: str, examples: list[bytes], runner: Runner | None = None,
        deadline: Deadline | None = None,
    ) -> tuple[str, np.ndarray | None, np.ndarray | None]:
        """TF Serving's Classify: (signature, classes [B,N] or None, scores [B,N] or None)."""
        name, outputs = self._run_examples(signature_name, examples, CLASSIFY, "classification",
                                           runner, deadline)
        classes, scores = outputs.get("classes"), outputs.get("scores")
        if classes is None and scores is None:
            raise ServingError(
                "INVALID_ARGUMENT",
                "Expected classification signature outputs to contain classes or scores",
            )
        for label, value in (("classes", classes), ("scores", scores)):
            if value is not None and (value.ndim != 2 or value.shape[0] != len(examples)):
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Expected {label} Tensor shape: [batch_size num_classes] but got "
                    f"{list(value.shape)}",
                )
        return name, classes, scores

    def regress(
        self, signature_name: str, examples: list[bytes], runner: Runner | None = None,
        deadline: Deadline | None = None,
    ) -> tuple[str, np.ndarray]:
        """TF Serving's Regress: (signature, one float per example)."""
        name, outputs = self._run_examples(signature_name, examples, REGRESS, "regression",
                                           runner, deadline)
        values = outputs.get("outputs")
        if values is None:
            raise ServingError("INVALID_ARGUMENT", "No output Tensor named 'outputs' was found.")
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1 or values.shape[0] != len(examples):
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but "
                f"got {list(values.shape)}",
            )
        return name, values

    def _run_examples(
        self, signature_name: str, examples: list[bytes], method: str, kind: str,
        runner: Runner | None, deadline: Deadline | None,
    ) -> tuple[str, dict[str, np.ndarray]]:
        name = signature_name or DEFAULT_SIGNATURE
        sig = self.signature_defs.get(name)
        if sig is None:
            raise ServingError(
                "INVALID_ARGUMENT", f"No signature was found with the name: {name}"
            )
        if self.method_name_check and sig.method_name != method:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Expected {kind} signature method_name to be {method}. Was: {sig.method_name}",
            )
        if len(sig.inputs) != 1:
            raise ServingError("INVALID_ARGUMENT", "Expected one input Tensor.")
        if not examples:
            raise ServingError("INVALID_ARGUMENT", "Input is empty.")
        alias = next(iter(sig.inputs))
        if sig.inputs[alias].dtype != types_pb2.DT_STRING:
            got = types_pb2.DataType.Name(sig.inputs[alias].dtype)
            raise ServingError("INVALID_ARGUMENT", f"Expected {kind} signature input to be a "
                                                   f"string tensor of tf.Examples, got {got}")
        batch = np.empty(len(examples), dtype=object)
        batch[:] = examples
        return name, (runner or Servable.call)(self, name, {alias: batch}, deadline)

    def warmup(self) -> int:
        """Replays `assets.extra/tf_serving_warmup_requests` as the real server does at load."""
        path = os.path.join(self.path, WARMUP_FILE)
        if not os.path.exists(path):
            return 0
        count, started = 0, time.monotonic()
        # Tracing every signature can take most of a minute on a loaded CPU: say so first.
        logging.info("Warming up the model at %s: replaying %s (the first calls trace and "
                     "compile each signature)", self.path, WARMUP_FILE)
        for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            kind = log.WhichOneof("log_type")
            if kind == "predict_log":
                request = log.predict_log.request
                inputs = {k: tensors.from_tensor_proto(v) for k, v in request.inputs.items()}
                self.predict(request.model_spec.signature_name, inputs,
                             list(request.output_filter))
            elif kind in ("classify_log", "regress_log"):
                request = getattr(log, kind).request
                examples = tensors.examples_from_proto(request.input)
                method = self.classify if kind == "classify_log" else self.regress
                method(request.model_spec.signature_name, examples)
            else:
                continue
            count += 1
        logging.info("Finished reading warmup data for model at %s. Number of warmup records read: "
                     "%d. Elapsed time (microseconds): %d.", path, count,
                     (time.monotonic() - started) * 1e6)
        return count
