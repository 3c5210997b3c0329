"""A question-answering export served by `zoo.serve`: REST rows and columns, gRPC, errors."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import Server
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

MODEL = "bert_tiny"
CONTEXT = "ant is 12 . bee is 31 . cat is 47 . dog is 55 ."


@pytest.fixture(scope="module")
def export_dir(tiny_answerer):
    """The shared tiny question answerer's export (tests/conftest.py)."""
    return tiny_answerer / "export"


@pytest.fixture(scope="module")
def server(export_dir, log_dir):
    server = Server([f"--model_config_file={export_dir / 'models.config'}"], log_dir)
    yield server
    assert server.stop() == 0, server.output()


def test_answer_over_rest_rows_and_columns(server):
    rows = [{"questions": "what is bee ?", "contexts": CONTEXT},
            {"questions": "what is dog ?", "contexts": CONTEXT + " eel is 60 ."}]
    status, doc = server.rest(f"/v1/models/{MODEL}:predict", {"instances": rows})
    assert status == 200, doc
    for row, prediction in zip(rows, doc["predictions"]):
        assert sorted(prediction) == ["answers", "end", "scores", "start"]
        assert row["contexts"][prediction["start"]:prediction["end"]] == prediction["answers"]
    body = {"signature_name": "answer",
            "inputs": {"questions": ["what is cat ?"], "contexts": [CONTEXT]}}
    status, doc = server.rest(f"/v1/models/{MODEL}:predict", body)
    assert status == 200, doc
    assert CONTEXT[doc["outputs"]["start"][0]:doc["outputs"]["end"][0]] == \
        doc["outputs"]["answers"][0]
    assert 0 < doc["outputs"]["scores"][0] <= 1


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [{"questions": "", "contexts": CONTEXT}]},
        {"instances": [{"questions": "what is ant ?", "contexts": " "}]},
        {"inputs": {"questions": ["what is ant ?"] * 2, "contexts": [CONTEXT]}},
        {"instances": [{"questions": "what is ant ?"}]},
        {"instances": [{"questions": "what is ant ?", "contexts": CONTEXT}] * 65},
    ],
    ids=["blank question", "blank context", "sizes differ", "no context", "over the cap"],
)
def test_bad_requests_are_400(server, body):
    status, doc = server.rest(f"/v1/models/{MODEL}:predict", body)
    assert status == 400 and "error" in doc, doc


def test_answer_over_grpc(server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = MODEL, "answer"
    contexts = np.array([CONTEXT.encode(), "Zoë is 3 . café is 4 .".encode()], dtype=object)
    request.inputs["questions"].CopyFrom(tf.make_tensor_proto(
        np.array([b"what is ant ?", "what is café ?".encode()], dtype=object)))
    request.inputs["contexts"].CopyFrom(tf.make_tensor_proto(contexts))
    reply = stub.Predict(request, timeout=60)
    answers = tf.make_ndarray(reply.outputs["answers"])
    starts, ends = (tf.make_ndarray(reply.outputs[k]) for k in ("start", "end"))
    for context, answer, start, end in zip(contexts, answers, starts, ends):
        assert context.decode()[start:end] == answer.decode()  # code points, not bytes
    request.inputs["contexts"].CopyFrom(tf.make_tensor_proto(np.array([b"x"], dtype=object)))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
