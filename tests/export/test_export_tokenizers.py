"""The keras-hub tokenizers export, and run with only tensorflow and tensorflow_text loaded.

SentencePiece and WordPiece hold tensorflow-text resources and ops (the char tokenizer of
test_export.py and the word and byte ones use core TensorFlow only). Tiny runs (one training
step) are made in this process; one fresh interpreter then loads every export. Also covered: a
mixed-precision run exports float32 signatures, and a stateful LSTM run scores a text in one
pass.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tasks.decoding import generate
from zoo.config import RunConfig
from zoo.export import export_saved_model
from zoo.runs import make_trainer
from zoo.trainer import Trainer

TRANSFORMER = dict(num_layers=1, hidden_dim=16, num_heads=2, intermediate_dim=32, sequence_length=8)
LSTM = dict(num_layers=1, hidden_dim=16, sequence_length=8)
# kind -> (model, overrides, extra RunConfig settings, score window)
RUNS = {
    "sentencepiece": ("transformer_lm_tiny", TRANSFORMER, {"mixed_precision": "mixed_bfloat16"}, 8),
    "wordpiece": ("lstm_lm_small", LSTM, {"task_options": {"stateful": True}}, None),
}
PROMPT = "the cat sat on"
TEXT = "the red dog ran to a big house\nwith some little boy and the cat"

LOAD_AND_CALL = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401

out = {}
for kind, path in json.loads(sys.argv[1]).items():
    sig = tf.saved_model.load(path).signatures
    greedy = sig["generate"](
        prompts=tf.constant([sys.argv[2]]), max_new_tokens=tf.constant([6]),
        temperature=tf.constant([0.0]), top_k=tf.constant([0]), top_p=tf.constant([1.0]),
        seed=tf.constant([0]))
    default = sig["serving_default"](prompts=tf.constant([sys.argv[2], "a"]))
    score = sig["score"](texts=tf.constant([sys.argv[3]]))
    logits = sig["logits"](token_ids=tf.constant([[1, 2]]))["logits"]
    out[kind] = {
        "token_ids": greedy["token_ids"].numpy()[0].tolist(),
        "text": [t.decode("utf-8") for t in default["text"].numpy()],
        "log_likelihood": float(score["log_likelihood"][0]),
        "num_tokens": int(score["num_tokens"][0]),
        "logits_dtype": logits.dtype.name,
    }
ours = {"zoo", "tasks", "layers", "keras_hub"}
out["ours"] = sorted({m.split(".")[0] for m in sys.modules} & ours)
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    rng = random.Random(0)
    words = "the cat sat on a mat and dog ran to big red house with some little boy".split()
    lines = (" ".join(rng.choice(words) for _ in range(10)) for _ in range(600))
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def exports(corpus, tmp_path_factory) -> dict[str, tuple[dict, str]]:
    """kind -> (what the run computes in this process, its export's version path).

    The expectations are taken before exporting: building a Trainer calls
    `tf.random.set_seed`, which clears TensorFlow's eager kernel cache and with it the
    kernel-owned resource of any SentencePiece tokenizer made earlier in this process.
    """
    root = tmp_path_factory.mktemp("kinds")
    policy = keras.mixed_precision.global_policy()
    made = {}
    try:
        for kind, (model, overrides, extra, window) in RUNS.items():
            config = RunConfig(
                model=model, data=str(corpus), tokenizer=kind, vocab_size=60,
                model_overrides=overrides, batch_size=4, train_steps=1, epochs=None,
                eval_batches=1, jit_compile=False, **extra,
            )
            config.task_options["sample_length"] = 1
            trainer = make_trainer(config, str(root / kind))
            trainer.fit()
            made[kind] = _expectations(trainer, window), export_saved_model(
                str(root / kind), str(root / "out"), name=kind
            )
    finally:
        keras.mixed_precision.set_global_policy(policy)
    return made


def _expectations(trainer: Trainer, window: int | None) -> dict:
    tokenizer = trainer.task.tokenizer
    ids = tokenizer.encode(PROMPT)
    new_ids, _ = generate(trainer.model, ids[None], np.array([len(ids)]), max_new_tokens=6)
    return {
        "mixed": trainer.model.compute_dtype != "float32",
        "num_tokens": len(tokenizer.encode(TEXT)) - 1,
        "log_likelihood": _reference_score(trainer, TEXT, window),
        "token_ids": new_ids.numpy()[0].tolist(),
    }


def _reference_score(trainer: Trainer, text: str, window: int | None) -> float:
    ids = trainer.task.tokenizer.encode(text)
    window = window or len(ids) - 1
    total = 0.0
    for start in range(0, len(ids) - 1, window):
        targets = ids[start + 1 : start + window + 1]
        logits = trainer.model(ids[None, start : start + len(targets)], training=False)[0]
        logits = np.asarray(logits, np.float64)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        total += log_probs[np.arange(len(targets)), targets].sum()
    return total


def test_every_tokenizer_kind_exports_and_serves(exports, tmp_path):
    paths = {kind: path for kind, (_, path) in exports.items()}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_CALL, json.dumps(paths), PROMPT, TEXT],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])
    assert out.pop("ours") == []
    for kind, served in out.items():
        expected, _ = exports[kind]
        assert served["logits_dtype"] == "float32"  # mixed precision included
        assert len(served["text"]) == 2
        assert served["num_tokens"] == expected["num_tokens"]
        # The mixed-precision run computes in bfloat16 here; its export computes in float32.
        tolerance = dict(rel=3e-2) if expected["mixed"] else dict(abs=1e-4)
        assert served["log_likelihood"] == pytest.approx(
            expected["log_likelihood"], **tolerance
        ), kind
        if not expected["mixed"]:
            assert served["token_ids"] == expected["token_ids"], kind
