"""`zoo.export`: a trained run becomes a SavedModel that TF Serving would serve unchanged.

One tiny character-level run is trained once and exported once; the export is then loaded in a
fresh process that has only tensorflow and tensorflow_text, as the model server has.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tasks.decoding import MAX_NEW_TOKENS_CAP, SamplingConfig, generate
from zoo.export import CONFIG_FILE, export_saved_model
from zoo.runs import Run, load_run
from zoo.serving.saved_models import WARMUP_FILE, xla_compiled_in

TINY = [
    "--dataset=synthetic", "--set=num_layers=1", "--set=hidden_dim=32", "--set=num_heads=2",
    "--set=intermediate_dim=64", "--set=sequence_length=16", "--train_steps=5",
    "--eval_batches=2",
]
CONTEXT = 16
NAME = "transformer_lm_tiny"
PROMPTS = ["abc", "hgfedcbaabcdefghhgfedcbaabcdefgh"]  # the second is longer than the context
TEXTS = ["abcabd", "abcdefghabcdefghabcdefghabcdefghabcdefghab"]  # one window; three windows
SIGNATURES = {"serving_default", "generate", "score", "logits"}

# Runs in a fresh interpreter: only tensorflow and tensorflow_text, as in TF Serving.
LOAD_AND_CALL = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the TF Text ops, as the server links them)

path, prompts, texts = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
loaded = tf.saved_model.load(path)
sig = loaded.signatures
out = {"signatures": sorted(sig)}
default = sig["serving_default"](prompts=tf.constant(prompts))
out["default_text"] = [t.decode() for t in default["text"].numpy()]
out["default_lengths"] = default["lengths"].numpy().tolist()
n = len(prompts)
def call_generate(temperature, seed):
    result = sig["generate"](
        prompts=tf.constant(prompts), max_new_tokens=tf.constant([7] * n),
        temperature=tf.constant([temperature] * n), top_k=tf.constant([0] * n),
        top_p=tf.constant([1.0] * n), seed=tf.constant([seed] * n))
    return {k: v.numpy().tolist() for k, v in result.items() if k != "text"}
out["greedy"] = call_generate(0.0, 0)
out["sampled"] = [call_generate(1.0, 3), call_generate(1.0, 3)]
scores = sig["score"](texts=tf.constant(texts))
out["score"] = {k: v.numpy().tolist() for k, v in scores.items()}
logits = sig["logits"](token_ids=tf.constant([[0, 1, 2, 3]]))["logits"]
out["logits"] = logits.numpy().tolist()
out["dtypes"] = {
    name: sorted({spec.dtype.name for spec in f.structured_outputs.values()})
    for name, f in sig.items()
}
ours = {"zoo", "tasks", "layers", "keras_hub"}
out["ours"] = sorted({m.split(".")[0] for m in sys.modules} & ours)
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def run_dir(run_module, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("run") / "run"
    result = run_module("zoo.train", *TINY, f"--model_dir={path}", "--export_dir=")
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def export_root(run_dir, tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("saved_models")


@pytest.fixture(scope="module")
def version_dir(run_dir, export_root) -> Path:
    return Path(export_saved_model(str(run_dir), str(export_root)))


@pytest.fixture(scope="module")
def trainer(run_dir) -> Run:
    """The run restored in this process: the numbers the export must reproduce."""
    run = load_run(str(run_dir))
    assert run.step == 5
    return run


@pytest.fixture(scope="module")
def loaded(version_dir):
    return tf.saved_model.load(str(version_dir)).signatures


def reference_continuation(
    trainer, prompt: str, max_new_tokens: int, **sampling
) -> tuple[list[int], str]:
    """The in-process model's continuation; greedy unless `sampling` says otherwise."""
    ids = trainer.task.tokenizer.encode(prompt)
    new_ids, lengths = generate(
        trainer.model, ids[None, :], np.array([len(ids)]), max_new_tokens=max_new_tokens,
        **sampling,
    )
    new = new_ids.numpy()[0, : int(lengths[0])].tolist()
    return new, trainer.task.tokenizer.decode(new)


def score_reference(trainer, text: str, window: int) -> tuple[float, int]:
    """Sum of log p(token | preceding tokens of its window), every token after the first."""
    ids = trainer.task.tokenizer.encode(text)
    total = 0.0
    for start in range(0, len(ids) - 1, window):
        targets = ids[start + 1 : start + window + 1]
        inputs = ids[start : start + len(targets)]
        logits = np.asarray(trainer.model(inputs[None, :], training=False)[0], np.float64)
        peak = logits.max(axis=-1, keepdims=True)
        log_probs = logits - peak - np.log(np.exp(logits - peak).sum(axis=-1, keepdims=True))
        total += log_probs[np.arange(len(targets)), targets].sum()
    return total, len(ids) - 1


def test_fresh_process_serves_what_the_model_computes(version_dir, trainer, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_CALL, str(version_dir), json.dumps(PROMPTS),
         json.dumps(TEXTS)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])

    assert out["ours"] == []
    assert set(out["signatures"]) == SIGNATURES
    assert out["dtypes"] == {
        "serving_default": ["int32", "string"],
        "generate": ["int32", "string"],
        "score": ["float32", "int32"],
        "logits": ["float32"],
    }
    for i, prompt in enumerate(PROMPTS):
        defaults = dataclasses.asdict(SamplingConfig())  # what serving_default samples with
        ids, text = reference_continuation(trainer, prompt, **defaults)
        assert out["default_text"][i] == text
        assert out["default_lengths"][i] == 100
        ids, _ = reference_continuation(trainer, prompt, 7)
        assert out["greedy"]["token_ids"][i] == ids
    assert out["sampled"][0] == out["sampled"][1]  # a seed fixes the sample

    for i, text in enumerate(TEXTS):
        log_likelihood, count = score_reference(trainer, text, CONTEXT)
        assert out["score"]["num_tokens"][i] == count
        assert out["score"]["log_likelihood"][i] == pytest.approx(log_likelihood, abs=1e-4)
        assert out["score"]["perplexity"][i] == pytest.approx(
            np.exp(-log_likelihood / count), rel=1e-4
        )
    expected = trainer.model(np.array([[0, 1, 2, 3]]), training=False).numpy()
    np.testing.assert_allclose(out["logits"], expected, atol=1e-5)


def test_saved_model_cli_lists_four_signatures_of_serving_dtypes(version_dir):
    cli = Path(sys.executable).parent / "saved_model_cli"
    result = subprocess.run(
        [str(cli), "show", "--dir", str(version_dir), "--all"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    shown = result.stdout
    for name in SIGNATURES:
        assert f"signature_def['{name}']" in shown
    user_signatures = shown.split("signature_def['")[2:]  # past __saved_model_init_op
    dtypes = {line.split()[-1] for sig in user_signatures for line in sig.splitlines()
              if line.strip().startswith("dtype:")}
    assert dtypes == {"DT_STRING", "DT_FLOAT", "DT_INT32"}


def test_no_function_requires_xla(version_dir):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    library = proto.meta_graphs[0].graph_def.library.function
    assert len(library) > 10
    for function in library:
        assert "_XlaMustCompile" not in function.attr, function.signature.name
        for node in function.node_def:
            assert not node.attr["_XlaMustCompile"].b, (function.signature.name, node.name)


def xla_op_types(saved_model_dir: Path) -> set[str]:
    """Op types in saved_model.pb's graphs and function library that only XLA can run."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved_model_dir / "saved_model.pb").read_bytes())
    found = set()
    for graph in proto.meta_graphs:
        functions = graph.graph_def.library.function
        for node in [*graph.graph_def.node, *(n for fn in functions for n in fn.node_def)]:
            if node.op.startswith("Xla"):
                found.add(node.op)
    return found


def test_no_xla_op_types(version_dir):
    """TF Serving runs without XLA: an XlaDynamicUpdateSlice (keras' slice_update) fails there."""
    assert xla_op_types(version_dir) == set()
    assert xla_compiled_in(str(version_dir)) == []


def test_warmup_requests_parse_as_prediction_logs(version_dir):
    from tensorflow_serving.apis import prediction_log_pb2

    path = version_dir / WARMUP_FILE
    logs = []
    for record in tf.data.TFRecordDataset(str(path)):
        logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    assert 1 <= len(logs) <= 1000
    signatures = {log.predict_log.request.model_spec.signature_name for log in logs}
    assert signatures == SIGNATURES  # every signature is warmed up
    assert {log.predict_log.request.model_spec.name for log in logs} == {NAME}
    generate_request = next(
        log.predict_log.request for log in logs
        if log.predict_log.request.model_spec.signature_name == "generate"
    )
    assert set(generate_request.inputs) == {
        "prompts", "max_new_tokens", "temperature", "top_k", "top_p", "seed"
    }


def _call_generate(signatures, prompts, **overrides):
    n = len(prompts)
    values = dict(max_new_tokens=[3] * n, temperature=[0.0] * n, top_k=[0] * n,
                  top_p=[1.0] * n, seed=[0] * n)
    values.update(overrides)
    return signatures["generate"](
        prompts=tf.constant(prompts, tf.string),
        max_new_tokens=tf.constant(values["max_new_tokens"], tf.int32),
        temperature=tf.constant(values["temperature"], tf.float32),
        top_k=tf.constant(values["top_k"], tf.int32),
        top_p=tf.constant(values["top_p"], tf.float32),
        seed=tf.constant(values["seed"], tf.int32),
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: s["serving_default"](prompts=tf.constant([], tf.string)), "batch is empty"),
        (lambda s: s["serving_default"](prompts=tf.constant(["abc", ""])), "at least 1 token"),
        (lambda s: _call_generate(s, [], max_new_tokens=[], temperature=[], top_k=[],
                                  top_p=[], seed=[]), "batch is empty"),
        (lambda s: _call_generate(s, ["abc"], max_new_tokens=[0]), "max_new_tokens"),
        (lambda s: _call_generate(s, ["abc"], max_new_tokens=[MAX_NEW_TOKENS_CAP + 1]),
         "max_new_tokens"),
        (lambda s: _call_generate(s, ["abc"], top_p=[0.0]), "top_p"),
        (lambda s: _call_generate(s, ["abc"], top_p=[1.5]), "top_p"),
        (lambda s: _call_generate(s, ["abc"], temperature=[-1.0]), "temperature"),
        (lambda s: _call_generate(s, ["abc", "d"], seed=[1]), "one value per prompt"),
        (lambda s: s["score"](texts=tf.constant(["a"])), "at least 2 token"),
        (lambda s: s["logits"](token_ids=tf.zeros([1, CONTEXT + 1], tf.int32)), "context"),
        (lambda s: s["logits"](token_ids=tf.constant([[1, 999]])), "vocabulary"),
    ],
)
def test_bad_inputs_are_invalid_argument(loaded, call, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(loaded)


def _complete_versions(model_root: Path) -> list[int]:
    versions = []
    for entry in model_root.iterdir():
        if entry.name.isdigit():
            assert (entry / "saved_model.pb").is_file()
            assert (entry / "variables" / "variables.index").is_file()
            assert (entry / WARMUP_FILE).is_file()
            versions.append(int(entry.name))
    return sorted(versions)


def test_kill_9_leaves_no_version_then_next_export_succeeds(run_dir, version_dir, export_root):
    model_root = export_root / NAME
    before = _complete_versions(model_root)
    args = ["-m", "zoo.export", f"--model_dir={run_dir}", f"--export_dir={export_root}",
            "--max_new_tokens=5"]
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while not list(model_root.glob(".tmp-*")):
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.time() < deadline, "the export never started writing"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    after_kill = _complete_versions(model_root)  # a complete version if the kill came late
    assert after_kill in (before, [*before, max(before) + 1])

    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = max(after_kill) + 1
    assert f"Exported {model_root / str(expected)}" in result.stdout
    assert _complete_versions(model_root) == [*after_kill, expected]
    assert not list(model_root.glob(".tmp-*"))  # the stale temp dir is gone

    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse(
        (export_root / CONFIG_FILE).read_text(), model_server_config_pb2.ModelServerConfig()
    )
    [entry] = config.model_config_list.config
    assert entry.name == NAME
    assert entry.model_platform == "tensorflow"
    assert os.path.isabs(entry.base_path)
    assert Path(entry.base_path) == model_root.resolve()


def test_existing_version_is_an_error(run_dir, version_dir, export_root):
    from zoo.config import ConfigError

    with pytest.raises(ConfigError, match="already has version 1"):
        export_saved_model(str(run_dir), str(export_root), version=1)


def test_cli_missing_model_dir_is_one_line_exit_2(run_module, tmp_path):
    result = run_module(
        "zoo.export", f"--model_dir={tmp_path / 'nope'}", f"--export_dir={tmp_path}"
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("zoo.export: error:")]
    assert "no such run directory" in line
    assert not list(tmp_path.glob("*/*"))


def test_ngram_run_exports_and_serves_the_same_signatures(run_module, tmp_path):
    trained = run_module("zoo.train", "--model=ngram_lm", "--dataset=synthetic",
                         "--tokenizer=char", "--set=order=3", "--model_dir=ngram",
                         "--export_dir=exports", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    version = tmp_path / "exports" / "ngram_lm" / "1"
    assert (version / "saved_model.pb").is_file()
    assert xla_op_types(version) == set()
    loaded = tf.saved_model.load(str(version))
    scored = loaded.signatures["score"](texts=tf.constant(["abcabcab", "cab"]))
    assert np.all(np.isfinite(scored["perplexity"].numpy()))
    generated = loaded.signatures["serving_default"](prompts=tf.constant(["ab"]))
    assert generated["lengths"].numpy()[0] > 0
