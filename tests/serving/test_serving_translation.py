"""A translation export served by `zoo.serve`: REST rows and columns, the gRPC stubs, errors."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import Server
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

MODEL = "transformer_seq2seq_small"


@pytest.fixture(scope="module")
def export_dir(tiny_translator):
    """The shared tiny translator's export (tests/conftest.py): 2 beams by default."""
    return tiny_translator / "export"


@pytest.fixture(scope="module")
def server(export_dir, log_dir):
    server = Server([f"--model_config_file={export_dir / 'models.config'}"], log_dir)
    yield server
    assert server.stop() == 0, server.output()


def test_translate_over_rest_rows_and_columns(server):
    status, doc = server.rest(f"/v1/models/{MODEL}:predict", {"instances": ["a b c", "b c d"]})
    assert status == 200, doc
    assert [sorted(p) for p in doc["predictions"]] == [["scores", "translations"]] * 2
    assert isinstance(doc["predictions"][0]["translations"], str)
    body = {"signature_name": "translate",
            "inputs": {"texts": ["a b c"], "num_beams": [1], "max_new_tokens": [3]}}
    status, doc = server.rest(f"/v1/models/{MODEL}:predict", body)
    assert status == 200, doc
    assert len(doc["outputs"]["translations"]) == 1 and doc["outputs"]["scores"][0] <= 0


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [""]},
        {"signature_name": "translate",
         "inputs": {"texts": ["a", "b"], "num_beams": [1, 2], "max_new_tokens": [3, 3]}},
        {"signature_name": "translate",
         "inputs": {"texts": ["a"], "num_beams": [9], "max_new_tokens": [3]}},
        {"instances": ["a b c d e f g h i j k"]},  # longer than the model's 8 tokens
    ],
    ids=["empty", "mixed beams", "too many beams", "too long"],
)
def test_bad_requests_are_400(server, body):
    status, doc = server.rest(f"/v1/models/{MODEL}:predict", body)
    assert status == 400 and "error" in doc, doc


def test_translate_over_grpc(server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = MODEL, "translate"
    for alias, value in {"texts": np.array([b"a b c", b"c d a"], dtype=object),
                         "num_beams": np.array([2, 2], np.int32),
                         "max_new_tokens": np.array([4, 0], np.int32)}.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    reply = stub.Predict(request, timeout=60)
    assert tf.make_ndarray(reply.outputs["translations"]).shape == (2,)
    request.inputs["num_beams"].CopyFrom(tf.make_tensor_proto(np.array([0, 0], np.int32)))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
