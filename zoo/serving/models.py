"""Models and their versions: discovery by polling, loading, availability-preserving swaps.

Mirrors TF Serving's FileSystemStoragePathSource + AspiredVersionsManager with the
availability-preserving policy: a new version is loaded before an old one is unloaded, the last
good version is never unloaded (a broken new version is reported as END with its error while the
old one keeps serving), "latest" routes to the highest AVAILABLE version, and an unload waits for
the requests in flight on that version (reference counting). A `Servable` is one loaded version
and knows how to run its signatures with TF Serving's checks and messages.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping

import grpc
import numpy as np
import tensorflow as tf
from absl import logging
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from zoo.serving import ServingError, tensors
from zoo.serving.config import ModelConfig
from zoo.serving.inflight import Deadline, InFlight
from zoo.serving.op_errors import op_message

PREDICT = "tensorflow/serving/predict"
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"
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


def xla_functions(graph: meta_graph_pb2.MetaGraphDef) -> list[str]:
    """Functions and call nodes marked `_XlaMustCompile` (a `jit_compile=True` tf.function)."""

    def must(attrs) -> bool:
        return "_XlaMustCompile" in attrs and attrs["_XlaMustCompile"].b

    functions = graph.graph_def.library.function
    marked = [f.signature.name for f in functions if must(f.attr)]
    nodes = [*graph.graph_def.node, *(n for f in functions for n in f.node_def)]
    return marked + [n.name for n in nodes if must(n.attr)]


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
            marked = xla_functions(graph)
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


# --------------------------------------------------------------------------- lifecycle

_VERSION_NAME = re.compile(r"^\d+$")


def discover_versions(base_path: str) -> dict[int, str]:
    """Version number -> directory: names that parse as integers (`00000123` is 123)."""
    found: dict[int, str] = {}
    for entry in sorted(os.listdir(base_path)):
        path = os.path.join(base_path, entry)
        if _VERSION_NAME.match(entry) and os.path.isdir(path):
            found.setdefault(int(entry), path)
    return found


def aspired_versions(found: Mapping[int, str], model: ModelConfig) -> set[int]:
    """The versions a model's version policy wants served (default: the latest one)."""
    policy = model.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return set(found)
    if choice == "specific":
        return set(found) & set(policy.specific.versions)
    count = max(policy.latest.num_versions, 1) if choice == "latest" else 1
    return set(sorted(found, reverse=True)[:count])


# A version that failed to load is tried again after 1, 2, 4 ... 60 seconds, and at once when
# its files change (TF Serving retries failed loads too, --max_num_load_retries).
RETRY_SECONDS, MAX_RETRY_SECONDS = 1.0, 60.0


def _fingerprint(path: str) -> tuple:
    """Every file of a version (name, size, modification time): a version being copied in,
    saved_model.pb first and variables/ later, changes until the copy is whole."""
    entries = []
    for root, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.stat(os.path.join(root, name))
            except OSError:
                continue
            entries.append((os.path.relpath(os.path.join(root, name), path), stat.st_size,
                            stat.st_mtime_ns))
    return tuple(sorted(entries))


class _Version:
    def __init__(self, version: int, path: str) -> None:
        self.version, self.path = version, path
        self.state = START
        self.error: ServingError | None = None
        self.servable: Servable | None = None
        self.refs = 0
        self.fingerprint: tuple = ()
        self.attempts = 0  # failed loads so far
        self.retry_at = 0.0  # monotonic time of the next attempt after a failure


class _Model:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.versions: dict[int, _Version] = {}
        self.labels: dict[str, int] = {}
        self.problem: str | None = None  # why the base path could not be read
        self.removed = False


class ModelManager:
    """Every configured model and its versions; front doors `acquire` servables from it."""

    def __init__(self, models: list[ModelConfig], *, xla_enabled: bool = False,
                 inflight: InFlight | None = None, method_name_check: bool = False) -> None:
        self.xla_enabled = xla_enabled
        self.inflight = inflight or InFlight()
        self.method_name_check = method_name_check
        self._cond = threading.Condition()
        self._poll_lock = threading.Lock()
        self._models: dict[str, _Model] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.set_models(models)

    # ----------------------------------------------------------------- configuration

    def set_models(self, models: list[ModelConfig]) -> None:
        """Adopts a new model list; models no longer listed have their versions unloaded."""
        with self._cond:
            names = {m.name for m in models}
            for name, model in self._models.items():
                if name not in names and not model.removed:
                    model.removed = True
                    for version in model.versions.values():
                        if version.state == AVAILABLE:
                            self._begin_unload(version)
            for config in models:
                model = self._models.get(config.name)
                if model is None or model.removed:
                    model = self._models[config.name] = _Model(config)
                model.config = config

    def pending_labels(self) -> list[str]:
        """Messages for configured labels whose version is not AVAILABLE (FAILED_PRECONDITION)."""
        problems = []
        with self._cond:
            for model in self._models.values():
                if model.removed:
                    continue
                for label, version in model.config.version_labels.items():
                    entry = model.versions.get(version)
                    if entry is None or entry.state != AVAILABLE:
                        problems.append(
                            f"Request to assign label to version {version} of model "
                            f"{model.config.name}, which is not currently available for "
                            f"inference"
                        )
                    else:
                        model.labels[label] = version
                for label in list(model.labels):
                    if label not in model.config.version_labels:
                        del model.labels[label]
        return problems

    # ----------------------------------------------------------------- polling

    def poll(self) -> None:
        """One pass: discover versions, load what the policies want, unload what they dropped."""
        with self._poll_lock:
            with self._cond:
                models = [m for m in self._models.values() if not m.removed]
            for model in models:
                self._poll_model(model)
            self.pending_labels()

    def _poll_model(self, model: _Model) -> None:
        config = model.config
        try:
            found = discover_versions(config.base_path)
            model.problem = None
        except OSError as e:
            model.problem = (
                f"Could not find base path {config.base_path} for servable {config.name}: "
                f"{e.strerror}"
            )
            logging.warning("%s", model.problem)
            return
        if not found:
            model.problem = (
                f"No versions of servable {config.name} found under base path "
                f"{config.base_path}"
            )
        aspired = aspired_versions(found, config)
        for number in sorted(aspired, reverse=True):
            self._maybe_load(model, number, found[number])
        with self._cond:
            keep_old = not any(
                v.state == AVAILABLE for n, v in model.versions.items() if n in aspired
            )
            if not keep_old:
                for number, version in model.versions.items():
                    if number not in aspired and version.state == AVAILABLE:
                        self._begin_unload(version)

    def _maybe_load(self, model: _Model, number: int, path: str) -> None:
        fingerprint = _fingerprint(path)
        with self._cond:
            entry = model.versions.get(number)
            attempts = 0
            if entry is not None:
                if entry.state != END:
                    return
                changed = entry.fingerprint != fingerprint
                due = entry.error is not None and time.monotonic() >= entry.retry_at
                if entry.error is not None and not (changed or due):
                    return
                attempts = 0 if changed else entry.attempts
            entry = model.versions[number] = _Version(number, path)
            entry.fingerprint = fingerprint
            entry.attempts = attempts
            entry.state = LOADING
        name = model.config.name
        logging.info("Loading servable version {name: %s version: %d} from %s", name, number, path)
        try:
            servable = Servable(name, number, path, xla_enabled=self.xla_enabled,
                                inflight=self.inflight, method_name_check=self.method_name_check)
            servable.warmup()
        except Exception as e:  # a broken version must never take the server down
            error = status_of(e)
            with self._cond:
                entry.state, entry.error = END, error
                entry.attempts += 1
                wait = min(RETRY_SECONDS * 2 ** (entry.attempts - 1), MAX_RETRY_SECONDS)
                entry.retry_at = time.monotonic() + wait
                self._cond.notify_all()
            logging.warning("Failed to load servable %s version %d (attempt %d; next in %.0f s "
                            "or when its files change): %s", name, number, entry.attempts, wait,
                            error.message)
            return
        with self._cond:
            entry.servable, entry.state = servable, AVAILABLE
            self._cond.notify_all()
        logging.info("Successfully loaded servable version {name: %s version: %d}", name, number)

    def _begin_unload(self, entry: _Version) -> None:
        """Stops routing to `entry` now; frees it once its requests in flight finish."""
        entry.state = UNLOADING

        def finish() -> None:
            with self._cond:
                while entry.refs:
                    self._cond.wait()
                servable, entry.servable = entry.servable, None
                entry.state = END
                self._cond.notify_all()
            del servable
            gc.collect()

        threading.Thread(target=finish, name=f"unload-{entry.version}", daemon=True).start()

    def start_polling(self, seconds: float) -> None:
        """Polls every `seconds` in a background thread (0 or less: never again)."""
        if seconds <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.poll()
                except Exception:  # keep polling whatever happens to one pass
                    logging.exception("file system poll failed")

        thread = threading.Thread(target=loop, name="fs-poll", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def waiting_for(self) -> dict[str, str]:
        """Models without an AVAILABLE version yet, and why (startup waits for these)."""
        out = {}
        with self._cond:
            for name, model in self._models.items():
                if model.removed or any(v.state == AVAILABLE for v in model.versions.values()):
                    continue
                out[name] = model.problem or "no version loaded yet"
        return out

    def reload(self, models: list[ModelConfig]) -> ServingError | None:
        """Adopts a new model list now (HandleReloadConfigRequest); the first problem, if any."""
        self.set_models(models)
        self.poll()
        fatal = self.fatal_problems()
        for model in models:
            if model.name in fatal:
                return ServingError("UNKNOWN", fatal[model.name])
        labels = self.pending_labels()
        return ServingError("FAILED_PRECONDITION", labels[0]) if labels else None

    def fatal_problems(self) -> dict[str, str]:
        """Models that cannot come up without the user: unreadable base paths, failed loads."""
        out = {}
        with self._cond:
            for name, model in self._models.items():
                if model.removed or any(v.state == AVAILABLE for v in model.versions.values()):
                    continue
                errors = [v.error.message for v in model.versions.values() if v.error]
                if errors:
                    out[name] = errors[0]
                elif model.problem and model.problem.startswith("Could not find base path"):
                    out[name] = model.problem
        return out

    # ----------------------------------------------------------------- requests

    @contextlib.contextmanager
    def acquire(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> Iterator[Servable]:
        """The servable a request names; it stays loaded until the `with` block ends."""
        with self._cond:
            model = self._models.get(name)
            if model is not None and model.removed:
                model = None
            if label is not None:
                if model is None or label not in model.labels:
                    raise ServingError(
                        "INVALID_ARGUMENT", f"Unrecognized servable version label: {label}"
                    )
                version = model.labels[label]
            if version is not None:
                entry = model.versions.get(version) if model else None
                if entry is None or entry.state != AVAILABLE:
                    raise ServingError(
                        "NOT_FOUND", f"Servable not found for request: Specific({name}, {version})"
                    )
            else:
                ready = [v for v in model.versions.values() if v.state == AVAILABLE] if model \
                    else []
                if not ready:
                    raise ServingError(
                        "NOT_FOUND", f"Servable not found for request: Latest({name})"
                    )
                entry = max(ready, key=lambda v: v.version)
            entry.refs += 1
            servable = entry.servable
        try:
            yield servable
        finally:
            with self._cond:
                entry.refs -= 1
                if not entry.refs:
                    self._cond.notify_all()

    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> list[tuple[int, str, str, str]]:
        """[(version, state, error code, error message)], newest first, as GetModelStatus."""
        with self._cond:
            model = self._models.get(name)
            if model is None or not model.versions:
                raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
            if label is not None:
                if label not in model.labels:
                    raise ServingError(
                        "INVALID_ARGUMENT", f"Unrecognized servable version label: {label}"
                    )
                version = model.labels[label]
            if version is not None and version not in model.versions:
                raise ServingError(
                    "NOT_FOUND", f"Could not find version {version} of model {name}"
                )
            entries = [model.versions[version]] if version is not None else sorted(
                model.versions.values(), key=lambda v: -v.version
            )
            return [
                (v.version, v.state, v.error.code if v.error else "OK",
                 v.error.message if v.error else "")
                for v in entries
            ]
