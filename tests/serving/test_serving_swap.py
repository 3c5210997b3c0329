"""Version swaps under load: a new version appears (copied, then renamed into place) and the old
one is removed while 16 clients send requests without pause; then a corrupt version appears.
Zero requests may fail, and the server batches them (--enable_batching) all along; for TF2 and
TF1 exports alike."""

from __future__ import annotations

import shutil
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from foreign_models import save_echo_tf1
from serving_helpers import Server, copy_version, save_echo
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

CLIENTS = 16


@pytest.fixture(scope="module", params=["tf2", "tf1"])
def swap_server(request, tmp_path_factory, log_dir):
    """The same echo model from `tf.saved_model.save` and from a TF1 builder (a session)."""
    save = save_echo if request.param == "tf2" else save_echo_tf1
    root = tmp_path_factory.mktemp("swap")
    base = root / "echo"
    save(str(base / "1"), 1)
    save(str(root / "next"), 2)
    params = root / "batching.config"
    params.write_text("max_batch_size { value: 8 }\nbatch_timeout_micros { value: 2000 }\n"
                      "max_enqueued_batches { value: 100 }\nnum_batch_threads { value: 2 }\n")
    server = Server([f"--model_base_path={base}", "--model_name=echo",
                     "--file_system_poll_wait_seconds=1", "--enable_batching",
                     f"--batching_parameters_file={params}"], log_dir)
    yield server, base, root / "next"
    assert server.stop() == 0, server.output()


def _states(server) -> dict[str, tuple[str, str]]:
    status, doc = server.rest("/v1/models/echo")
    assert status == 200, doc
    return {v["version"]: (v["state"], v["status"]["error_message"])
            for v in doc["model_version_status"]}


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_swap_under_load_fails_no_request(swap_server):
    server, base, next_version = swap_server
    stop = threading.Event()
    failures: list[str] = []
    seen: list[set] = [set() for _ in range(CLIENTS)]
    answered = [0] * CLIENTS
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)

    def client(index: int) -> None:
        while not stop.is_set():
            try:
                if index % 2:
                    status, doc = server.rest("/v1/models/echo:predict",
                                              {"instances": [f"c{index}"]})
                    if status != 200:
                        failures.append(f"REST {status}: {doc}")
                        continue
                    text = doc["predictions"][0]["text"]
                else:
                    request = predict_pb2.PredictRequest()
                    request.model_spec.name = "echo"
                    request.inputs["prompts"].CopyFrom(
                        tf.make_tensor_proto(np.array([f"c{index}".encode()], dtype=object)))
                    reply = stub.Predict(request, timeout=30)
                    text = tf.make_ndarray(reply.outputs["text"])[0].decode()
                if text != f"{text[:3]}c{index}":
                    failures.append(f"wrong reply {text!r} for c{index}")
                seen[index].add(text[:2])
                answered[index] += 1
            except (OSError, grpc.RpcError) as e:
                failures.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        copy_version(next_version, base, 2)
        _wait_for(lambda: _states(server).get("1", ("",))[0] == "END")
        assert _states(server)["2"][0] == "AVAILABLE"
        shutil.rmtree(base / "1")
        time.sleep(1.5)

        corrupt = base / ".tmp-corrupt"
        corrupt.mkdir()
        (corrupt / "saved_model.pb").write_bytes(b"\x00 this is not a SavedModel \xff" * 10)
        corrupt.rename(base / "3")
        _wait_for(lambda: _states(server).get("3", ("",))[0] == "END")
        state, error = _states(server)["3"]
        assert error, "a failed load is reported with its error"
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not failures, failures[:5]
    assert set().union(*seen) == {"v1", "v2"}
    assert min(answered) > 0 and sum(answered) > 200, answered
    assert _states(server)["2"][0] == "AVAILABLE"
    assert server.rest("/v1/models/echo:predict", {"instances": ["z"]})[1] == {
        "predictions": [{"length": 1, "text": "v2:z"}]}
    status, doc = server.rest("/v1/models/echo/versions/3:predict", {"instances": ["z"]})
    assert status == 404 and doc["error"] == "Servable not found for request: Specific(echo, 3)"


def test_the_config_poll_survives_a_binary_config_file(model_root, log_dir, tmp_path):
    """A config file overwritten with random bytes is logged and skipped; the next valid one
    still loads (the poll thread once died of a UnicodeDecodeError)."""
    from serving_helpers import write_config

    config = write_config(tmp_path / "models.config", {"echo": model_root / "echo"})
    server = Server([f"--model_config_file={config}",
                     "--model_config_file_poll_wait_seconds=1"], log_dir)
    try:
        config.write_bytes(bytes(range(128, 256)) * 3)
        deadline = time.monotonic() + 30
        while "ignoring new --model_config_file" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
        write_config(config, {"echo": model_root / "echo", "math": model_root / "math"})
        deadline = time.monotonic() + 60
        while (status := server.rest("/v1/models/math"))[0] != 200 or (
                status[1]["model_version_status"][0]["state"] == "LOADING"):
            # a status of 200 can say LOADING first (a loaded machine, parallel tests)
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.5)
        assert status[1]["model_version_status"][0]["state"] == "AVAILABLE"
        assert "not UTF-8" in server.output() and "Traceback" not in server.output()
    finally:
        assert server.stop() == 0, server.output()
