"""The server over a real zoo export (`zoo.train ... --export_dir`), and startup errors."""

from __future__ import annotations

import subprocess
import sys

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import REPO, Server, save_xla, train_and_export
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

MODEL = "transformer_lm_tiny"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    train_and_export(root, "run", "--dataset=synthetic", "--set=num_layers=1",
                     "--set=hidden_dim=32", "--set=num_heads=2", "--set=intermediate_dim=64",
                     "--set=sequence_length=16", "--train_steps=5", "--eval_batches=2")
    # A counted n-gram model exports the same signatures into the same models.config.
    train_and_export(root, "ngram", "--model=ngram_lm", "--dataset=synthetic", "--tokenizer=char",
                     "--set=order=3")
    # A classifier: an encoder fine-tuned on labelled text, served for :classify and :predict.
    data = root / "labelled"
    data.mkdir()
    for split, count in (("train", 200), ("dev", 40)):
        rows = [f"{'good fine' if i % 2 else 'bad poor'} film {i}\t{'pos' if i % 2 else 'neg'}"
                for i in range(count)]
        (data / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return train_and_export(
        root, "classifier", "--model=bert_tiny", "--task=text_classification", f"--data={data}",
        "--tokenizer=word", "--set=num_layers=1", "--set=hidden_dim=32",
        "--set=intermediate_dim=64", "--set=sequence_length=16", "--train_steps=30",
        "--learning_rate=3e-3")


@pytest.fixture(scope="module")
def zoo_server(export_dir, log_dir):
    server = Server([f"--model_config_file={export_dir / 'models.config'}"], log_dir)
    yield server
    assert server.stop() == 0, server.output()


def test_zoo_export_signatures(zoo_server):
    status, doc = zoo_server.rest(f"/v1/models/{MODEL}/metadata")
    assert status == 200
    signatures = doc["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "generate", "score", "logits"} <= set(signatures)
    assert signatures["generate"]["inputs"]["temperature"]["dtype"] == "DT_FLOAT"


def test_zoo_generate_with_parameters_and_score(zoo_server):
    row = {"prompts": "ab", "max_new_tokens": 4, "temperature": 0.0, "top_k": 0, "top_p": 1.0,
           "seed": 7}
    status, doc = zoo_server.rest(f"/v1/models/{MODEL}:predict",
                                  {"signature_name": "generate", "instances": [row, row]})
    assert status == 200, doc
    first, second = doc["predictions"]
    assert first == second  # greedy decoding is deterministic
    assert isinstance(first["text"], str) and first["lengths"] <= 4
    status, doc = zoo_server.rest(f"/v1/models/{MODEL}:predict",
                                  {"signature_name": "score", "inputs": {"texts": ["abc"]}})
    assert status == 200, doc
    outputs = doc["outputs"]
    assert outputs["num_tokens"][0] > 0 and outputs["perplexity"][0] > 1.0
    assert outputs["log_likelihood"][0] < 0


def test_zoo_generate_over_grpc(zoo_server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(zoo_server.channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = MODEL, "generate"
    inputs = {"prompts": np.array([b"a"], dtype=object), "max_new_tokens": np.array([3], np.int32),
              "temperature": np.array([1.0], np.float32), "top_k": np.array([5], np.int32),
              "top_p": np.array([0.9], np.float32), "seed": np.array([1], np.int32)}
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    reply = stub.Predict(request, timeout=60)
    assert tf.make_ndarray(reply.outputs["lengths"]).shape == (1,)
    request.inputs["max_new_tokens"].CopyFrom(tf.make_tensor_proto(np.array([3.0], np.float32)))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_startup_refuses_xla_models_and_bad_flags(tmp_path):
    save_xla(str(tmp_path / "xla" / "1"))
    run = subprocess.run(
        [sys.executable, "-m", "zoo.serve", f"--model_base_path={tmp_path / 'xla'}",
         "--port=0", "--rest_api_port=0"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2
    assert "zoo.serve: error: model default:" in run.stderr
    assert "--xla_cpu_compilation_enabled" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "zoo.serve", "--model_base_path=/x", "--model_config_file=/y"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2 and "not both" in run.stderr


def test_ngram_export_serves_like_the_neural_ones(zoo_server):
    status, doc = zoo_server.rest("/v1/models/ngram_lm:predict",
                                  {"signature_name": "score", "inputs": {"texts": ["abcab"]}})
    assert status == 200, doc
    assert doc["outputs"]["num_tokens"] == [4] and doc["outputs"]["perplexity"][0] > 1.0
    status, doc = zoo_server.rest("/v1/models/ngram_lm:predict", {"instances": ["ab"]})
    assert status == 200, doc
    assert doc["predictions"][0]["lengths"] > 0


CLASSIFIER = "bert_tiny"


def test_classifier_answers_classify_and_predict_over_rest(zoo_server):
    status, doc = zoo_server.rest(f"/v1/models/{CLASSIFIER}:classify",
                                  {"signature_name": "classify",
                                   "examples": [{"text": "good fine film"},
                                                {"text": "bad poor film"}]})
    assert status == 200, doc
    good, bad = doc["results"]
    assert [label for label, _ in good] == ["neg", "pos"]
    assert sum(score for _, score in good) == pytest.approx(1.0, abs=1e-5)
    assert dict(good)["pos"] > 0.5 > dict(bad)["pos"]  # it learned the two words
    status, doc = zoo_server.rest(f"/v1/models/{CLASSIFIER}:predict",
                                  {"instances": ["good fine film", "bad poor film"]})
    assert status == 200, doc
    assert [p["labels"] for p in doc["predictions"]] == ["pos", "neg"]
    assert doc["predictions"][0]["label_ids"] == 1 and len(doc["predictions"][0]["scores"]) == 2


@pytest.mark.parametrize(
    "body",
    [{"signature_name": "classify", "examples": [{"text": ""}]},
     {"signature_name": "classify", "examples": [{"review": "good film"}]}],
    ids=["empty text", "wrong feature"],
)
def test_classifier_refuses_bad_examples(zoo_server, body):
    status, doc = zoo_server.rest(f"/v1/models/{CLASSIFIER}:classify", body)
    assert status == 400 and "error" in doc


def test_classifier_over_grpc(zoo_server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(zoo_server.channel)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = CLASSIFIER, "classify"
    example = request.input.example_list.examples.add()
    example.features.feature["text"].bytes_list.value.append(b"good fine film")
    reply = stub.Classify(request, timeout=60)
    classes = reply.result.classifications[0].classes
    assert [c.label for c in classes] == ["neg", "pos"] and classes[1].score > 0.5

    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = CLASSIFIER
    predict.inputs["texts"].CopyFrom(tf.make_tensor_proto(np.array([b"bad poor film"])))
    outputs = stub.Predict(predict, timeout=60).outputs
    assert tf.make_ndarray(outputs["labels"]).tolist() == [b"neg"]
    predict.inputs["texts"].CopyFrom(tf.make_tensor_proto(np.array([b"   "])))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(predict, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def largest_generate() -> dict:
    """The biggest generate request the export's default limits allow: 64 prompts x 128."""
    row = {"prompts": "abc", "max_new_tokens": 128, "temperature": 1.0, "top_k": 0,
           "top_p": 1.0, "seed": 1}
    return {"signature_name": "generate", "instances": [row] * 64}


def test_default_limits_keep_the_server_responsive_and_refuse_more(export_dir, log_dir):
    import threading
    import time

    server = Server([f"--model_config_file={export_dir / 'models.config'}"], log_dir)
    try:
        over = largest_generate()
        over["instances"] = over["instances"] + over["instances"][:1]  # 65 prompts
        status, doc = server.rest(f"/v1/models/{MODEL}:predict", over)
        assert status == 400 and "at most" in doc["error"]  # a limit, named
        assert "Detected at node" not in doc["error"] and "Graph execution" not in doc["error"]
        heavy = [threading.Thread(target=server.rest, daemon=True,
                                  args=(f"/v1/models/{MODEL}:predict", largest_generate()))
                 for _ in range(4)]
        for thread in heavy:
            thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        status, _ = server.rest(f"/v1/models/{MODEL}:predict",
                                {"signature_name": "score", "inputs": {"texts": ["abc"]}})
        assert status == 200 and time.monotonic() - started < 5
        for _ in heavy:  # and under that load, SIGTERM ends the server within 5 s
            threading.Thread(target=server.rest, daemon=True,
                             args=(f"/v1/models/{MODEL}:predict", largest_generate())).start()
        started = time.monotonic()
    finally:
        code = server.stop()
    assert code == 0 and time.monotonic() - started < 5
