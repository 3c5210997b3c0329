"""Helpers for the serving tests: real SavedModels, and `python -m zoo.serve` on free ports.

The models are small `tf.Module`s saved with `tf.saved_model.save` (plus one TF1 SavedModel with
classify/regress signature defs from `tf.compat.v1.saved_model.Builder`), so the server is checked
against the same files the real tensorflow_model_server would load.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def train_and_export(root: Path, run: str, *flags: str) -> Path:
    """`python -m zoo.train <flags>` into root/run, exported into root/export (returned)."""
    done = subprocess.run(
        [sys.executable, "-m", "zoo.train", *flags, f"--model_dir={root / run}",
         f"--export_dir={root / 'export'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "export"

# ----------------------------------------------------------------------------- SavedModels


def save_echo(path: str, version: int) -> None:
    """String in, string out: `prompts` [B] -> `text` "v<version>:<prompt>", `length` [B]."""
    import tensorflow as tf

    class Echo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="prompts")])
        def serve(self, prompts):
            text = tf.strings.join([f"v{version}:", prompts])
            return {"text": text, "length": tf.strings.length(prompts)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="data")])
        def raw(self, data):
            return {"data_bytes": tf.strings.join([data, b"\xff"]), "size": tf.strings.length(data)}

    module = Echo()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve,
                                                  "raw": module.raw})


def save_math(path: str) -> None:
    """Several inputs and outputs of several dtypes, plus a scalar signature for columnar form."""
    import tensorflow as tf

    class Math(tf.Module):
        @tf.function(input_signature=[
            tf.TensorSpec([None, 2], tf.float32, name="x"),
            tf.TensorSpec([None], tf.int64, name="n"),
        ])
        def serve(self, x, n):
            total = tf.reduce_sum(x, axis=1) + tf.cast(n, tf.float32)
            return {"total": total, "doubled": n * 2, "positive": total > 0}

        @tf.function(input_signature=[tf.TensorSpec([], tf.float32, name="k"),
                                      tf.TensorSpec([None], tf.int32, name="v")])
        def scale(self, k, v):
            return {"scaled": k * tf.cast(v, tf.float32), "k": k}

    module = Math()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve,
                                                  "scale": module.scale})


def save_sleepy(path: str) -> None:
    """`ms` [B] int64: sleeps max(ms) milliseconds without using the CPU, returns `ms`.

    (tf.data sleeps on every GetNext, end of sequence included: hence half the time, twice.
    Calls of this function run one at a time.)
    """
    import tensorflow as tf
    from tensorflow.python.data.experimental.ops import testing

    class Sleepy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="ms")])
        def serve(self, ms):
            micros = tf.reduce_max(ms) * 500
            slept = tf.data.Dataset.from_tensors(ms).apply(testing.sleep(micros))
            total = slept.reduce(tf.constant(0, tf.int64), lambda acc, x: acc + tf.size(
                x, out_type=tf.int64))
            return {"ms": ms + 0 * total}

    module = Sleepy()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})


def save_spin(path: str) -> None:
    """`n` [B] int64: multiplies a 128x128 matrix max(n) times (CPU-bound, one op per step),
    returns `n`. A long `n` keeps a core busy until the call is cancelled."""
    import tensorflow as tf

    class Spin(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="n")])
        def serve(self, n):
            def body(i, x):
                return i + 1, tf.tanh(tf.linalg.matmul(x, x))

            steps = tf.reduce_max(n)
            _, x = tf.while_loop(lambda i, x: i < steps, body,
                                 (tf.constant(0, tf.int64), tf.fill([128, 128], 0.01)))
            # The result depends on the loop, so the graph optimizer keeps it.
            return {"n": n + tf.cast(tf.reduce_sum(x) * 0.0, tf.int64)}

    module = Spin()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})


def save_xla(path: str) -> None:
    import tensorflow as tf

    class Jit(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")],
                     jit_compile=True)
        def serve(self, x):
            return {"y": x * 2.0}

    module = Jit()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})


def save_tf1_estimator_like(path: str) -> None:
    """A TF1 SavedModel with classify, regress and predict signature defs over tf.Examples."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        features = v1.io.parse_example(serialized, {"x": v1.io.FixedLenFeature([], tf.float32)})
        x = features["x"]
        scores = tf.nn.softmax(tf.stack([x, -x], axis=1))
        classes = tf.tile(tf.constant([["pos", "neg"]]), [tf.shape(x)[0], 1])
        doubled = x * 2.0
        info = v1.saved_model.utils.build_tensor_info
        inputs = {"inputs": info(serialized)}
        classify = v1.saved_model.signature_def_utils.build_signature_def(
            inputs, {"classes": info(classes), "scores": info(scores)},
            "tensorflow/serving/classify")
        regress = v1.saved_model.signature_def_utils.build_signature_def(
            inputs, {"outputs": info(doubled)}, "tensorflow/serving/regress")
        predict = v1.saved_model.signature_def_utils.build_signature_def(
            {"examples": info(serialized)}, {"doubled": info(doubled)},
            "tensorflow/serving/predict")
        with v1.Session(graph=graph) as session:
            builder = v1.saved_model.Builder(path)
            builder.add_meta_graph_and_variables(
                session, ["serve"],
                signature_def_map={"serving_default": classify, "regress": regress,
                                   "predict": predict},
            )
            builder.save()


def build_models(root: Path) -> dict[str, Path]:
    """Every test model under root/<name>/<version>; returns name -> base path."""
    bases = {}
    for name, save in [("echo", lambda p: save_echo(p, 1)), ("math", save_math),
                       ("sleepy", save_sleepy), ("tf1", save_tf1_estimator_like)]:
        base = root / name
        save(str(base / "1"))
        bases[name] = base
    return bases


# ----------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, models: dict[str, Path], extra: dict[str, str] | None = None) -> Path:
    entries = []
    for name, base in models.items():
        more = (extra or {}).get(name, "")
        entries.append(
            f'config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" {more} }}'
        )
    path.write_text("model_config_list {\n  " + "\n  ".join(entries) + "\n}\n")
    return path


class Server:
    """A running `python -m zoo.serve`; `rest(...)` and `channel` talk to it."""

    def __init__(self, args: list[str], log_dir: Path, timeout: float = 180) -> None:
        self.grpc_port, self.rest_port = free_port(), free_port()
        self.log = log_dir / f"serve-{self.rest_port}.log"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zoo.serve", f"--port={self.grpc_port}",
             f"--rest_api_port={self.rest_port}", *args],
            cwd=REPO, env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while "zoo.serve: serving" not in self.output():
            if self.proc.poll() is not None:
                raise RuntimeError(f"zoo.serve exited {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"zoo.serve not ready in {timeout}s:\n{self.output()}")
            time.sleep(0.2)
        self._channel = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def rest(self, path: str, body=None, method: str | None = None, timeout: float = 60):
        """(HTTP status, parsed JSON or text) for GET (body None) or POST."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                status, text = reply.status, reply.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    @property
    def channel(self):
        import grpc

        if self._channel is None:
            self._channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        return self._channel

    def stop(self) -> int:
        if self._channel is not None:
            self._channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def copy_version(source: Path, base: Path, version: int) -> Path:
    """Copies a version under a temporary name, then renames it into place (atomic)."""
    temp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
    shutil.rmtree(temp)
    shutil.copytree(source, temp)
    final = base / str(version)
    os.rename(temp, final)
    return final
