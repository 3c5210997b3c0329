"""A summarization export served by `zoo.serve`: REST and gRPC, decoding settings per request,
batch invariance, and bad requests."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import Server
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

MODEL = "transformer_seq2seq_small"
PATH = f"/v1/models/{MODEL}:predict"


@pytest.fixture(scope="module")
def export_dir(tiny_summarizer):
    """The shared tiny summarizer's export (tests/conftest.py): 2 beams by default."""
    return tiny_summarizer / "export"


@pytest.fixture(scope="module")
def server(export_dir, log_dir):
    server = Server([f"--model_config_file={export_dir / 'models.config'}"], log_dir)
    yield server
    assert server.stop() == 0, server.output()


def summarize(server, texts, beams, most, ngram):
    n = len(texts)
    body = {"signature_name": "summarize",
            "inputs": {"texts": texts, "num_beams": [beams] * n, "max_new_tokens": most,
                       "no_repeat_ngram_size": [ngram] * n}}
    status, doc = server.rest(PATH, body)
    assert status == 200, doc
    return doc["outputs"]


def test_summarize_over_rest(server):
    long = " ".join(["a b c d e f g h"] * 8)  # longer than the model reads: cut, not refused
    status, doc = server.rest(PATH, {"instances": ["a b c d e f", long]})
    assert status == 200, doc
    assert [sorted(p) for p in doc["predictions"]] == [["scores", "summaries"]] * 2
    out = summarize(server, ["a b c d e f"], 1, [2], 0)
    assert len(out["summaries"][0].split()) <= 2 and out["scores"][0] <= 0


def test_no_repeat_ngram_size_holds_within_a_summary(server):
    out = summarize(server, ["a a a a a a a a", "b b b b b b"], 2, [6, 6], 1)
    for summary in out["summaries"]:
        words = summary.split()
        assert len(words) == len(set(words)), summary


def test_a_text_decodes_the_same_alone_and_in_a_batch(server):
    texts = ["a b c d e f g h", "h g f e", "c c d d e e f f a"]
    together = summarize(server, texts, 2, [0] * 3, 2)
    for i, text in enumerate(texts):
        alone = summarize(server, [text], 2, [0], 2)
        assert alone["summaries"] == [together["summaries"][i]]
        assert alone["scores"][0] == pytest.approx(together["scores"][i], abs=1e-4)


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [""]},
        {"instances": []},
        {"signature_name": "summarize",
         "inputs": {"texts": ["a", "b"], "num_beams": [1, 1], "max_new_tokens": [3, 3],
                    "no_repeat_ngram_size": [0, 2]}},
        {"signature_name": "summarize",
         "inputs": {"texts": ["a"], "num_beams": [5], "max_new_tokens": [3],
                    "no_repeat_ngram_size": [0]}},
        {"signature_name": "summarize",
         "inputs": {"texts": ["a"], "num_beams": [1], "max_new_tokens": [99],
                    "no_repeat_ngram_size": [0]}},
    ],
    ids=["blank", "empty batch", "mixed ngram sizes", "too many beams", "too many tokens"],
)
def test_bad_requests_are_400(server, body):
    status, doc = server.rest(PATH, body)
    assert status == 400 and "error" in doc, doc


def test_summarize_over_grpc(server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = MODEL, "summarize"
    inputs = {"texts": np.array([b"a b c d", b"e f g h"], dtype=object),
              "num_beams": np.array([2, 2], np.int32),
              "max_new_tokens": np.array([4, 0], np.int32),
              "no_repeat_ngram_size": np.array([3, 3], np.int32)}
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    reply = stub.Predict(request, timeout=60)
    assert tf.make_ndarray(reply.outputs["summaries"]).shape == (2,)
    request.inputs["no_repeat_ngram_size"].CopyFrom(
        tf.make_tensor_proto(np.array([4, 4], np.int32)))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
