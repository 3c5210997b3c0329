"""`python -m zoo.serve` over real SavedModels, checked as TF Serving's own tests do: REST with
plain urllib and gRPC with the official stubs, replies and errors included."""

from __future__ import annotations

import base64
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import Server, write_config
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

TIMEOUT_MS = 4000


@pytest.fixture(scope="module")
def config_path(model_root, tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "models.config"
    models = {name: model_root / name for name in ("echo", "math", "sleepy", "tf1")}
    return write_config(path, models, {"echo": 'version_labels { key: "stable" value: 1 }'})


@pytest.fixture(scope="module")
def server(config_path, log_dir):
    running = Server([f"--model_config_file={config_path}", "--max_request_bytes=100000",
                      f"--rest_api_timeout_in_ms={TIMEOUT_MS}"], log_dir)
    yield running
    assert running.stop() == 0, running.output()


@pytest.fixture(scope="module")
def stub(server):
    return prediction_service_pb2_grpc.PredictionServiceStub(server.channel)


# ----------------------------------------------------------------------------- REST


def test_status(server):
    expected = {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]}
    assert server.rest("/v1/models/echo") == (200, expected)
    assert server.rest("/v1/models/echo/versions/1") == (200, expected)
    assert server.rest("/v1/models/echo/labels/stable") == (200, expected)


def test_metadata_has_tf_servings_shape(server):
    status, doc = server.rest("/v1/models/echo/metadata")
    assert status == 200
    assert doc["model_spec"] == {"name": "echo", "signature_name": "", "version": "1"}
    signature = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["defaults"] == {}
    assert signature["inputs"]["prompts"] == {
        "dtype": "DT_STRING",
        "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False},
        "name": "serving_default_prompts:0",
    }
    assert signature["outputs"]["length"]["dtype"] == "DT_INT32"
    assert server.rest("/v1/models/echo/versions/1/metadata")[0] == 200


def test_predict_row_and_columnar(server):
    assert server.rest("/v1/models/echo:predict", {"instances": ["hi", "héllo"]}) == (200, {
        "predictions": [{"length": 2, "text": "v1:hi"}, {"length": 6, "text": "v1:héllo"}]
    })
    assert server.rest("/v1/models/echo/versions/1:predict", {"inputs": ["hi"]}) == (200, {
        "outputs": {"length": [2], "text": ["v1:hi"]}
    })
    assert server.rest("/v1/models/echo/labels/stable:predict", {
        "instances": [{"prompts": {"b64": base64.b64encode(b"\xff").decode()}}]
    })[1]["predictions"][0]["length"] == 1


def test_multi_input_predict_and_float_formatting(server):
    status, text = server.rest("/v1/models/math:predict", {
        "instances": [{"x": [1, 2], "n": 0}, {"x": [0.1, 0.2], "n": 0}]
    }, timeout=30)
    assert status == 200
    assert text == {"predictions": [
        {"doubled": 0, "positive": True, "total": 3.0},
        {"doubled": 0, "positive": True, "total": 0.3},  # float32 0.3, written shortest
    ]}
    import urllib.request

    raw = urllib.request.urlopen(urllib.request.Request(
        server.url + "/v1/models/math:predict", data=b'{"inputs": {"x": [[1, 2]], "n": [0]}}'
    )).read().decode()
    assert '"total": [3.0]' in raw
    assert server.rest("/v1/models/math:predict", {
        "signature_name": "scale", "inputs": {"k": 0.5, "v": [1, 2]}
    }) == (200, {"outputs": {"k": 0.5, "scaled": [0.5, 1.0]}})


def test_bytes_outputs_are_base64(server):
    status, doc = server.rest("/v1/models/echo:predict", {
        "signature_name": "raw", "inputs": ["a"]
    })
    assert status == 200
    assert doc == {"outputs": {"data_bytes": [{"b64": base64.b64encode(b"a\xff").decode()}],
                               "size": [1]}}


@pytest.mark.parametrize("path,body,status,message", [
    ("/v1/models/echo:predict", b"{oops", 400, "JSON Parse error: "),
    ("/v1/models/echo:predict", {"inputs": ["a"], "instances": ["a"]}, 400,
     "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"),
    ("/v1/models/echo:predict", {"signature_name": ""}, 400,
     "Missing 'inputs' or 'instances' key"),
    ("/v1/models/nope:predict", {"inputs": ["a"]}, 404,
     "Servable not found for request: Latest(nope)"),
    ("/v1/models/echo/versions/9:predict", {"inputs": ["a"]}, 404,
     "Servable not found for request: Specific(echo, 9)"),
    ("/v1/models/echo/labels/canary:predict", {"inputs": ["a"]}, 400,
     "Unrecognized servable version label: canary"),
    ("/v1/models/echo:predict", {"signature_name": "nope", "inputs": ["a"]}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ("/v1/models/echo:predict", {"inputs": [1]}, 400,
     "JSON Value: 1 Type: Number is not of expected type: string"),
    ("/v1/models/math:predict", {"inputs": {"x": [[1, 2]], "n": [1.5]}}, 400,
     "JSON Value: 1.5 Type: Number is not of expected type: int64"),
    ("/v1/models/math:predict", {"inputs": {"x": [[1, 2]]}}, 400,
     "input size does not match signature: 1!=2 len({x}) != len({n,x}). Sent extra: {}. "
     "Missing but required: {n}."),
    ("/v1/models/echo:explode", {"inputs": ["a"]}, 400,
     "Malformed request: POST /v1/models/echo:explode"),
])
def test_rest_errors(server, path, body, status, message):
    got_status, doc = server.rest(path, body)
    assert got_status == status
    assert set(doc) == {"error"} and doc["error"].startswith(message), doc


@pytest.mark.parametrize("path,status,message", [
    ("/v1/models", 400, "Missing model name in request."),
    ("/v1/models/nope", 404, "Could not find any versions of model nope"),
    ("/v1/models/echo/versions/7", 404, "Could not find version 7 of model echo"),
    ("/v1/models/echo/versions/x", 400, "Malformed request: GET /v1/models/echo/versions/x"),
    ("/v1/models/echo:predict", 400, "Malformed request: GET /v1/models/echo:predict"),
    ("/v1/models/nope/metadata", 404, "Servable not found for request: Latest(nope)"),
])
def test_rest_get_errors(server, path, status, message):
    assert server.rest(path) == (status, {"error": message})


def test_a_version_is_ascii_digits_only(server):
    status, doc = server.rest("/v1/models/echo/versions/%D9%A1")  # "١", Arabic-Indic one
    assert status == 400 and doc["error"].startswith("Malformed request: GET"), doc
    status, doc = server.rest("/v1/models/echo/versions/%D9%A1:predict", {"inputs": ["x"]})
    assert status == 400 and doc["error"].startswith("Malformed request: POST"), doc


def test_oversized_body_is_413(server):
    status, doc = server.rest("/v1/models/echo:predict", {"inputs": ["x" * 200_000]})
    assert status == 413 and "max_request_bytes" in doc["error"]
    assert server.rest("/v1/models/echo:predict", {"inputs": ["ok"]})[0] == 200


def test_slow_request_is_504(server):
    start = time.monotonic()
    status, doc = server.rest("/v1/models/sleepy:predict", {"instances": [TIMEOUT_MS + 1000]})
    assert status == 504 and set(doc) == {"error"}
    assert time.monotonic() - start < (TIMEOUT_MS + 1000) / 1000
    assert server.rest("/v1/models/sleepy:predict", {"instances": [1]}) == (
        200, {"predictions": [1]})


def test_classify_and_regress(server):
    status, doc = server.rest("/v1/models/tf1:classify", {"examples": [{"x": 0.0}]})
    assert status == 200
    assert doc == {"results": [[["pos", 0.5], ["neg", 0.5]]]}
    assert server.rest("/v1/models/tf1:regress", {
        "signature_name": "regress", "context": {"x": 1.5}, "examples": [{}, {"x": -1.0}]
    }) == (200, {"results": [3.0, -2.0]})
    # TF Serving checks no method names by default: the classify signature lacks `outputs`.
    status, doc = server.rest("/v1/models/tf1:regress", {"examples": [{"x": 1.0}]})
    assert status == 400 and "No output Tensor named 'outputs'" in doc["error"]


def test_prometheus_metrics(server):
    server.rest("/v1/models/echo:predict", {"inputs": ["a"]})
    status, text = server.rest("/monitoring/prometheus/metrics")
    assert status == 200
    assert ':tensorflow:serving:request_count{model_name="echo",status="OK"}' in text
    assert ":tensorflow:serving:request_latency_bucket{" in text


def test_unknown_model_names_share_one_series(server):
    """Requests naming models that are not configured cannot grow the server's state."""
    _, before = server.rest("/monitoring/prometheus/metrics")
    for i in range(20):
        status, _ = server.rest(f"/v1/models/{'x' * 1000}{i}:predict", {"inputs": ["a"]})
        assert status == 404
    _, after = server.rest("/monitoring/prometheus/metrics")
    assert "x" * 1000 not in after and len(after) - len(before) < 5000
    assert 'model_name="(unconfigured)",status="NOT_FOUND"' in after


# ----------------------------------------------------------------------------- gRPC


def _predict_request(name="math", signature="", **inputs) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return request


def test_grpc_predict(stub):
    request = _predict_request(x=np.array([[1, 2], [3, 4]], np.float32),
                               n=np.array([1, 2], np.int64))
    reply = stub.Predict(request, timeout=30)
    assert reply.model_spec.name == "math" and reply.model_spec.version.value == 1
    assert reply.model_spec.signature_name == "serving_default"
    assert list(reply.outputs["total"].float_val) == [4.0, 9.0]  # typed fields, as TF Serving
    assert tf.make_ndarray(reply.outputs["doubled"]).tolist() == [2, 4]
    request.output_filter.append("total")
    assert set(stub.Predict(request, timeout=30).outputs) == {"total"}


def test_grpc_string_predict_by_label(stub):
    request = _predict_request("echo", prompts=np.array([b"hey"], dtype=object))
    request.model_spec.version_label = "stable"
    reply = stub.Predict(request, timeout=30)
    assert tf.make_ndarray(reply.outputs["text"]).tolist() == [b"v1:hey"]


@pytest.mark.parametrize("change,code,message", [
    (dict(signature="nope"), grpc.StatusCode.FAILED_PRECONDITION,
     'Serving signature key "nope" not found.'),
    (dict(name="nope"), grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)"),
    (dict(n=np.array([1], np.int32)), grpc.StatusCode.INVALID_ARGUMENT,
     "Expects arg[0] to be int64 but int32 is provided"),
    (dict(output_filter="nope"), grpc.StatusCode.INVALID_ARGUMENT,
     "output tensor alias not found in signature: nope"),
    (dict(extra=np.array([1.0])), grpc.StatusCode.INVALID_ARGUMENT,
     "input size does not match signature"),
])
def test_grpc_predict_errors(stub, change, code, message):
    inputs = {"x": np.array([[1, 2]], np.float32), "n": np.array([1], np.int64)}
    output_filter = change.pop("output_filter", None)
    name, signature = change.pop("name", "math"), change.pop("signature", "")
    inputs.update(change)
    request = _predict_request(name, signature, **inputs)
    if output_filter:
        request.output_filter.append(output_filter)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=30)
    assert info.value.code() == code
    assert info.value.details().startswith(message)


def test_grpc_metadata_and_status(server, stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "echo"
    reply = stub.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    reply.metadata["signature_def"].Unpack(signatures)
    assert reply.model_spec.version.value == 1
    assert {"serving_default", "raw"} <= set(signatures.signature_def)
    models = model_service_pb2_grpc.ModelServiceStub(server.channel)
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "echo"
    (version,) = models.GetModelStatus(status_request, timeout=30).model_version_status
    assert version.version == 1
    assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    status_request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as info:
        models.GetModelStatus(status_request, timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_classify_regress_and_multi_inference(stub):
    def with_examples(request, *values):
        if hasattr(request, "model_spec"):
            request.model_spec.name = "tf1"
        for value in values:
            example = request.input.example_list.examples.add()
            example.features.feature["x"].float_list.value.append(value)
        return request

    reply = stub.Classify(with_examples(classification_pb2.ClassificationRequest(), 0.0, 1.0))
    first = reply.result.classifications[0].classes
    assert [c.label for c in first] == ["pos", "neg"] and first[0].score == pytest.approx(0.5)
    request = with_examples(regression_pb2.RegressionRequest(), 2.0)
    request.model_spec.signature_name = "regress"
    assert stub.Regress(request).result.regressions[0].value == pytest.approx(4.0)
    multi = with_examples(inference_pb2.MultiInferenceRequest(), 1.0)
    for signature, method in (("serving_default", "tensorflow/serving/classify"),
                              ("regress", "tensorflow/serving/regress")):
        task = multi.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = "tf1", signature
    results = stub.MultiInference(multi).results
    assert len(results[0].classification_result.classifications) == 1
    assert results[1].regression_result.regressions[0].value == pytest.approx(2.0)


def test_reload_config_refuses_labels_on_unavailable_versions(server, config_path):
    from google.protobuf import text_format

    models = model_service_pb2_grpc.ModelServiceStub(server.channel)
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(config_path.read_text(), request.config)
    request.config.model_config_list.config[0].version_labels["canary"] = 5
    with pytest.raises(grpc.RpcError) as info:
        models.HandleReloadConfigRequest(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not currently available for inference" in info.value.details()
    del request.config.model_config_list.config[0].version_labels["canary"]
    reply = models.HandleReloadConfigRequest(request, timeout=60)
    assert reply.status.error_code == 0
    assert server.rest("/v1/models/echo/labels/stable")[0] == 200


def test_reload_config_with_a_folder_that_holds_no_model_says_why(server, config_path,
                                                                  tmp_path):
    """A base path whose integer folders are not SavedModels (as /proc's PID folders) is the
    load's own NOT_FOUND in ReloadConfig and END with it in GetModelStatus, never UNKNOWN."""
    from google.protobuf import text_format

    (tmp_path / "broken" / "7").mkdir(parents=True)
    (tmp_path / "broken" / "7" / "notes.txt").write_text("not a model")
    models = model_service_pb2_grpc.ModelServiceStub(server.channel)
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(config_path.read_text(), request.config)
    original = model_management_pb2.ReloadConfigRequest()
    original.CopyFrom(request)
    broken = request.config.model_config_list.config.add()
    broken.name, broken.base_path = "broken", str(tmp_path / "broken")
    broken.model_platform = "tensorflow"
    try:
        with pytest.raises(grpc.RpcError) as info:
            models.HandleReloadConfigRequest(request, timeout=60)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND, info.value.details()
        assert "Could not find SavedModel" in info.value.details()
        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = "broken"
        (version,) = models.GetModelStatus(status_request, timeout=30).model_version_status
        assert version.version == 7
        assert version.state == get_model_status_pb2.ModelVersionStatus.END
        assert version.status.error_code == grpc.StatusCode.NOT_FOUND.value[0]
        assert "Could not find SavedModel" in version.status.error_message
        # Pointed at a real model, its old failure is forgotten: the reload succeeds.
        broken.base_path = config_path.read_text().split('base_path: "')[1].split('"')[0]
        assert models.HandleReloadConfigRequest(request, timeout=60).status.error_code == 0
        (version,) = models.GetModelStatus(status_request, timeout=30).model_version_status
        assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    finally:
        assert models.HandleReloadConfigRequest(original, timeout=60).status.error_code == 0
