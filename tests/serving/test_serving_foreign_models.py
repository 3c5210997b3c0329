"""`zoo.serve` on SavedModels exported by others, checked against TF Serving's documented answers.

TF1 builder exports (loaded into a session, as TF Serving loads every model), `tf.Module`s and
Keras exports answer Predict, Classify, Regress and MultiInference over REST and gRPC with the
values and JSON shapes of TF Serving's half_plus_two / half_plus_three examples.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from foreign_models import (
    save_half_plus_tf1,
    save_half_plus_two_keras,
    save_half_plus_two_module,
    write_predict_warmup,
)
from google.protobuf import text_format
from serving_helpers import REPO, Server, write_config
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from zoo.serving.batching import Batcher
from zoo.serving.config import BatchingParameters
from zoo.serving.servable import Servable

# name -> the offset its y = 0.5 x + offset adds
OFFSETS = {"tf1": 3.0, "module": 2.0}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign")
    save_half_plus_tf1(str(root / "tf1" / "1"), OFFSETS["tf1"])
    write_predict_warmup(str(root / "tf1" / "1"), {"x": np.array([[1.0]], np.float32)})
    save_half_plus_two_module(str(root / "module" / "1"))
    save_half_plus_two_keras(str(root / "keras" / "1"))
    # half_plus_two_2_versions: two TF1 versions, told apart by their offsets.
    save_half_plus_tf1(str(root / "two_versions" / "123"), 2.0)
    save_half_plus_tf1(str(root / "two_versions" / "124"), 3.0)
    return root


@pytest.fixture(scope="module")
def config_path(models):
    bases = {name: models / name for name in ("tf1", "module", "keras", "two_versions")}
    return write_config(models / "models.config", bases, {
        "two_versions": "model_version_policy { all {} }"})


@pytest.fixture(scope="module")
def server(config_path, log_dir):
    server = Server([f"--model_config_file={config_path}", "--enable_batching"], log_dir)
    yield server
    assert server.stop() == 0, server.output()


@pytest.fixture(scope="module")
def stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(server.channel)


def _half_plus(name: str, *xs: float) -> list[float]:
    return [0.5 * x + OFFSETS[name] for x in xs]


def _examples(request, name: str, signature: str, *xs: float):
    if hasattr(request, "model_spec"):  # a MultiInferenceRequest names models per task
        request.model_spec.name, request.model_spec.signature_name = name, signature
    for x in xs:
        request.input.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    return request


# ----------------------------------------------------------------------------- Predict


@pytest.mark.parametrize("name", ["tf1", "module"])
def test_predict_takes_what_the_graph_takes(server, stub, name):
    # x is declared [-1, 1]; TF Serving checks no shapes and the graph broadcasts [3] and [1].
    assert server.rest(f"/v1/models/{name}:predict", {"instances": [2.0, 3.0, 4.0]}) == (
        200, {"predictions": _half_plus(name, 2.0, 3.0, 4.0)})
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0], np.float32)))
    reply = stub.Predict(request, timeout=30)
    assert list(reply.outputs["y"].float_val) == _half_plus(name, 2.0)
    assert reply.model_spec.signature_name == "serving_default"


def test_keras_export_predicts_rows_and_columns(server):
    assert server.rest("/v1/models/keras:predict", {"instances": [[2.0], [3.0]]}) == (
        200, {"predictions": [[3.0], [3.5]]})
    assert server.rest("/v1/models/keras:predict", {"inputs": {"x": [[1.0]]}}) == (
        200, {"outputs": [[2.5]]})


def test_tf1_graph_dtype_errors_stay_tf_servings(server):
    status, doc = server.rest("/v1/models/tf1:predict", {"instances": ["two"]})
    assert status == 400 and set(doc) == {"error"}


# ----------------------------------------------------------------------------- Classify/Regress


@pytest.mark.parametrize("name", ["tf1", "module"])
def test_classify_and_regress_over_rest(server, name):
    # TF Serving's REST doc: a classify signature with scores only gives "" labels.
    assert server.rest(f"/v1/models/{name}:classify", {
        "signature_name": "classify_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]}) == (
        200, {"results": [[["", 3.0 + OFFSETS[name] - 2.0]], [["", 4.0 + OFFSETS[name] - 2.0]]]})
    assert server.rest(f"/v1/models/{name}:regress", {
        "signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}) == (
        200, {"results": _half_plus(name, 2.0)})


def test_regress_reads_context_and_feature_defaults(server):
    # regress_x2_to_y3 is 0.5 * x2 + 3, x2 defaulting to 0.
    assert server.rest("/v1/models/tf1:regress", {
        "signature_name": "regress_x2_to_y3", "context": {"x": 9.0},
        "examples": [{"x2": 2.0}, {}]}) == (200, {"results": [4.0, 3.0]})


@pytest.mark.parametrize("name", ["tf1", "module"])
def test_classify_regress_and_multi_inference_over_grpc(stub, name):
    reply = stub.Classify(_examples(classification_pb2.ClassificationRequest(), name,
                                    "classify_x_to_y", 2.0), timeout=30)
    (row,) = reply.result.classifications
    assert [(c.label, c.score) for c in row.classes] == [("", _half_plus(name, 2.0)[0])]
    assert reply.model_spec.signature_name == "classify_x_to_y"
    reply = stub.Regress(_examples(regression_pb2.RegressionRequest(), name, "regress_x_to_y",
                                   2.0, 6.0), timeout=30)
    assert [r.value for r in reply.result.regressions] == _half_plus(name, 2.0, 6.0)
    multi = _examples(inference_pb2.MultiInferenceRequest(), name, "", 4.0)
    for signature, method in (("classify_x_to_y", "tensorflow/serving/classify"),
                              ("regress_x_to_y", "tensorflow/serving/regress")):
        task = multi.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = name, signature
    first, second = stub.MultiInference(multi, timeout=30).results
    assert first.classification_result.classifications[0].classes[0].score == (
        _half_plus(name, 4.0)[0])
    assert second.regression_result.regressions[0].value == _half_plus(name, 4.0)[0]
    assert second.model_spec.signature_name == "regress_x_to_y"


# ----------------------------------------------------------------------------- versions, reload


def test_two_versions_both_serve_and_latest_is_the_default(server):
    status, doc = server.rest("/v1/models/two_versions")
    assert status == 200
    assert sorted((v["version"], v["state"]) for v in doc["model_version_status"]) == [
        ("123", "AVAILABLE"), ("124", "AVAILABLE")]
    body = {"instances": [[1.0]]}
    assert server.rest("/v1/models/two_versions/versions/123:predict", body)[1] == {
        "predictions": [[2.5]]}
    assert server.rest("/v1/models/two_versions:predict", body)[1] == {"predictions": [[3.5]]}


def test_warmup_records_replayed_on_a_tf1_model(server):
    assert "Number of warmup records read: 1." in server.output()


def test_config_reload_swaps_models(server, models):
    """A name served from a TF2 module is dropped, then served from a TF1 export; the other
    names keep serving. (As in TF Serving, a loaded version is identified by name and number:
    pointing a listed name at a new base path keeps its loaded versions.)"""
    service = model_service_pb2_grpc.ModelServiceStub(server.channel)

    def reload(bases: dict) -> None:
        request = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(write_config(models / "reload.config", bases).read_text(),
                          request.config)
        reply = service.HandleReloadConfigRequest(request, timeout=120)
        assert reply.status.error_code == 0, reply.status.error_message

    body = {"instances": [[2.0]]}
    keep = {name: models / name for name in ("tf1", "module", "keras")}
    try:
        reload({**keep, "swapped": models / "module"})
        assert server.rest("/v1/models/swapped:predict", body)[1] == {"predictions": [[3.0]]}
        reload(keep)
        status, doc = server.rest("/v1/models/swapped:predict", body)
        assert status == 404 and "swapped" in doc["error"]
        reload({**keep, "swapped": models / "tf1"})
        assert server.rest("/v1/models/swapped:predict", body)[1] == {"predictions": [[4.0]]}
        status, doc = server.rest("/v1/models/two_versions:predict", body)
        assert status == 404 and "two_versions" in doc["error"]
        assert server.rest("/v1/models/keras:predict", body)[1] == {"predictions": [[3.0]]}
    finally:
        reload({**keep, "two_versions": models / "two_versions"})


# ----------------------------------------------------------------------------- flags, messages


def test_method_name_check_is_off_by_default_and_on_with_the_flag(server, models, log_dir):
    request = _examples(classification_pb2.ClassificationRequest(), "module", "classify_x_to_y",
                        2.0)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    assert stub.Classify(request, timeout=30).result.classifications  # predict method: served
    checking = Server([f"--model_base_path={models / 'module'}", "--model_name=module",
                       "--enable_signature_method_name_check"], log_dir)
    try:
        strict = prediction_service_pb2_grpc.PredictionServiceStub(checking.channel)
        with pytest.raises(grpc.RpcError) as info:
            strict.Classify(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == (
            "Expected classification signature method_name to be tensorflow/serving/classify. "
            "Was: tensorflow/serving/predict")
        assert checking.rest("/v1/models/module:predict", {"instances": [[2.0]]})[0] == 200
    finally:
        assert checking.stop() == 0


def test_malformed_model_config_says_what_tf_serving_says(tmp_path):
    config = tmp_path / "bad.config"
    config.write_text("improperly formatted file\n")
    run = subprocess.run([sys.executable, "-m", "zoo.serve", f"--model_config_file={config}",
                          "--port=0", "--rest_api_port=0"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in lines[0]


def test_profiler_service_traces_as_tf_serving_does(server, tmp_path):
    """TensorFlow's own profiler client (what TensorBoard's capture button calls) gets a trace
    of the server into its log folder, as from TF Serving's ProfilerService."""
    from tensorflow.python.profiler import profiler_client

    logdir = tmp_path / "logs"
    logdir.mkdir()
    busy = threading.Thread(target=lambda: [_predict_half_plus(server) for _ in range(20)])
    busy.start()
    profiler_client.trace(f"grpc://127.0.0.1:{server.grpc_port}", str(logdir), 1000,
                          num_tracing_attempts=1)
    busy.join()
    traces = list((logdir / "plugins" / "profile").glob("*/*.xplane.pb"))
    assert traces and traces[0].stat().st_size > 1000, traces
    monitor = server.channel.unary_unary("/tensorflow.ProfilerService/Monitor")
    with pytest.raises(grpc.RpcError) as info:
        monitor(b"", timeout=30)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _predict_half_plus(server) -> None:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "module"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0]], np.float32)))
    stub.Predict(request, timeout=30)


# ----------------------------------------------------------------------------- in process


def test_batcher_merges_requests_to_a_tf1_session(models):
    """The batcher's merged calls run through the TF1 session path and split back correctly."""

    class Counted(Servable):
        sizes: list[int] = []

        def call(self, name, inputs, deadline=None):
            self.sizes.append(len(next(iter(inputs.values()))))
            return super().call(name, inputs, deadline)

    servable = Counted("tf1", 1, str(models / "tf1" / "1"))
    batcher = Batcher(BatchingParameters(max_batch_size=8, batch_timeout_micros=200_000,
                                         num_batch_threads=1))
    results: dict[int, list] = {}

    def one(i: int) -> None:
        x = np.array([[float(i)]], np.float32)
        results[i] = batcher(servable, "serving_default", {"x": x})["y"].tolist()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    batcher.stop()
    assert results == {i: [[0.5 * i + 3.0]] for i in range(6)}
    assert sum(Counted.sizes) == 6 and len(Counted.sizes) < 6
