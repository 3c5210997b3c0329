"""NGramLM: Kneser-Ney by hand and by brute force, the decoding protocol, saving, and its CLI."""

from __future__ import annotations

import collections
import json
import math
from fractions import Fraction as F

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks.decoding import generate_tokens
from zoo.models.ngram_lm import NO_TOKEN, NGramLM, kneser_ney_discounts


def random_corpus(vocab: int, length: int, seed: int) -> np.ndarray:
    """Zipf-like random tokens, so every count-of-counts class is populated."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocab + 1)
    return rng.choice(vocab, size=length, p=weights / weights.sum()).astype(np.int32)


def probabilities(model: NGramLM, ids) -> np.ndarray:
    return np.exp(keras.ops.convert_to_numpy(model(np.asarray(ids, np.int32))).astype(np.float64))


# ----------------------------------------------------------------------------- by hand

# c b a b a c b a d c b d d d c d c b c d over a=0, b=1, c=2, d=3; e=4 never occurs.
TOY = [2, 1, 0, 1, 0, 2, 1, 0, 3, 2, 1, 3, 3, 3, 2, 3, 2, 1, 2, 3]
A, B, C, D, E = range(5)


def test_toy_corpus_counts_are_the_ones_used_below():
    bigrams = collections.Counter(zip(TOY, TOY[1:]))
    assert bigrams == {
        (A, B): 1, (A, C): 1, (A, D): 1, (B, C): 1, (B, D): 1,  # n1 = 5
        (C, D): 2, (D, D): 2,  # n2 = 2
        (B, A): 3, (D, C): 3,  # n3 = 2
        (C, B): 4,  # n4 = 1
    }
    left_neighbours = {w: len({h for h, x in bigrams if x == w}) for w in (A, B, C, D)}
    assert left_neighbours == {A: 1, B: 2, C: 3, D: 4}


def test_order_2_matches_hand_computed_values():
    model = NGramLM.fit(TOY, vocab_size=5, order=2)
    # Unigram level, continuation counts a1 b2 c3 d4 e0 (n1..n4 = 1): Y = 1/3,
    # D1 = 1 - 2Y = 1/3, D2 = 2 - 3Y = 1, D3+ = 3 - 4Y = 5/3; total 10, so gamma = (14/3)/10
    # and p1(w) = (c - D) / 10 + 7/75.
    # Bigram level, raw counts n1..n4 = 5, 2, 2, 1: Y = 5/9, D1 = 1 - 2Y(2/5) = 5/9,
    # D2 = 2 - 3Y(2/2) = 1/3, D3+ = 3 - 4Y(1/2) = 17/9.
    np.testing.assert_allclose(
        model.discounts, [[1 / 3, 1, 5 / 3], [5 / 9, 1 / 3, 17 / 9]], rtol=1e-12
    )
    p1 = [F(4, 25), F(29, 150), F(17, 75), F(49, 150), F(14, 150)]
    # Context b: followers a x3, c x1, d x1 (total 5); gamma = (17/9 + 5/9 + 5/9) / 5 = 3/5.
    after_b = [F(358, 1125), F(29, 250), F(253, 1125), F(641, 2250), F(7, 125)]
    assert sum(p1) == 1 and sum(after_b) == 1
    got = probabilities(model, [[B, E]])[0]
    np.testing.assert_allclose(got[0], [float(p) for p in after_b], rtol=1e-6)
    np.testing.assert_allclose(got[1], [float(p) for p in p1], rtol=1e-6)  # e: unseen context
    # Context d: followers c x3, d x2; gamma = (17/9 + 1/3) / 5 = 4/9;
    # p(c | d) = (3 - 17/9) / 5 + 4/9 * 17/75 = 218/675. TOY[9] is a c after a d.
    log_probs = model.log_prob(TOY)
    assert log_probs[9] == pytest.approx(math.log(218 / 675), rel=1e-6)
    assert log_probs[0] == pytest.approx(math.log(17 / 75), rel=1e-6)  # no history: p1(c)


def test_discounts_fall_back_inside_their_range():
    # n1 = 2, n2 = 1, no count 3: Y = 1/2, D1 = 1/2, D2 = 2 - 0 = 2 (in range), and D3+ is
    # undefined, so Y stands in; with no counts at all every discount is 0.5.
    assert kneser_ney_discounts(np.array([1, 1, 2]))[1:] == pytest.approx([0.5, 2.0, 0.5])
    assert kneser_ney_discounts(np.array([], np.int64))[1:] == pytest.approx([0.5, 0.5, 0.5])


# ----------------------------------------------------------------------------- brute force


class Reference:
    """Chen & Goodman's recursion over Python dicts, written as plainly as possible."""

    def __init__(self, ids, vocab: int, order: int):
        ids = [int(i) for i in ids]
        self.vocab, self.order = vocab, order
        raw = {
            k: collections.Counter(tuple(ids[i : i + k]) for i in range(len(ids) - k + 1))
            for k in range(1, order + 1)
        }
        self.counts = {order: raw[order]}
        for k in range(1, order):
            self.counts[k] = collections.Counter(gram[1:] for gram in raw[k + 1])
        self.discounts = {
            k: kneser_ney_discounts(np.array(list(counts.values()) or [0]))
            for k, counts in self.counts.items()
        }

    def _discount(self, k, count):
        return self.discounts[k][min(count, 3)]

    def prob(self, history: tuple, word: int) -> float:
        history = history[max(0, len(history) - self.order + 1) :] if self.order > 1 else ()
        k = len(history) + 1
        counts = self.counts[k]
        followers = [counts.get(history + (x,), 0) for x in range(self.vocab)]
        total = sum(followers)
        mass = sum(self._discount(k, c) for c in followers)
        own = followers[word] - self._discount(k, followers[word])
        if k == 1:
            return (own + mass / self.vocab) / total
        lower = self.prob(history[1:], word)
        if total == 0:
            return lower
        return own / total + mass / total * lower


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_matches_brute_force_and_sums_to_one(order):
    vocab = 9  # the last id never occurs
    train = random_corpus(vocab - 1, 400, seed=order)
    test = random_corpus(vocab - 1, 40, seed=100 + order)
    model = NGramLM.fit(train, vocab, order)
    reference = Reference(train, vocab, order)
    expected = [reference.prob(tuple(test[:t]), test[t]) for t in range(len(test))]
    np.testing.assert_allclose(model.log_prob(test), np.log(expected), rtol=1e-5)

    # Whole distributions, rows mixing seen, unseen and partly unknown (padded) contexts.
    rows = np.stack([test[:12], train[50:62], np.full(12, vocab - 1)]).astype(np.int32)
    probs = probabilities(model, rows)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    for r, t in [(0, 0), (0, 11), (1, 7), (2, 5)]:
        history = tuple(rows[r, : t + 1])
        np.testing.assert_allclose(
            probs[r, t], [reference.prob(history, w) for w in range(vocab)], rtol=1e-5
        )


# ----------------------------------------------------------------------------- protocol


def test_decode_step_by_step_equals_call():
    model = NGramLM.fit(random_corpus(30, 3000, seed=0), vocab_size=31, order=4)
    ids = random_corpus(30, 2 * 9, seed=1).reshape(2, 9)
    full = keras.ops.convert_to_numpy(model(ids))
    assert full.shape == (2, 9, 31) and full.dtype == np.float32

    state = model.initial_decoding_state(2, 9)
    assert state.shape == (2, 3) and np.all(keras.ops.convert_to_numpy(state) == NO_TOKEN)
    steps = []
    for t in range(9):
        logits, state = model.decode(ids[:, t : t + 1], state, t)
        steps.append(keras.ops.convert_to_numpy(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(state), ids[:, -3:])

    prefill, state = model.decode(ids[:, :5], model.initial_decoding_state(2, 9), 0)
    rest, _ = model.decode(ids[:, 5:], state, 5)
    np.testing.assert_allclose(np.concatenate([prefill, rest], axis=1), full, atol=1e-6)


def test_greedy_generation_follows_the_argmax():
    model = NGramLM.fit(random_corpus(12, 2000, seed=2), vocab_size=12, order=3)
    prompt = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    generated = generate_tokens(model, prompt, 6)
    assert generated.shape == (2, 6)
    ids = prompt
    for _ in range(6):
        next_ids = np.argmax(keras.ops.convert_to_numpy(model(ids))[:, -1], axis=-1)
        ids = np.concatenate([ids, next_ids[:, None].astype(np.int32)], axis=1)
    np.testing.assert_array_equal(generated, ids[:, 3:])


def test_saves_as_keras_with_safe_mode_and_exports(tmp_path):
    model = NGramLM.fit(random_corpus(20, 1000, seed=3), vocab_size=20, order=3)
    assert not model.trainable_weights
    ids = random_corpus(20, 16, seed=4).reshape(2, 8)
    path = tmp_path / "ngram.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, NGramLM) and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded(ids), model(ids))
    np.testing.assert_array_equal(loaded.log_prob(ids[0]), model.log_prob(ids[0]))

    # The counts travel inside a SavedModel: the graph needs no Python.
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve", model.call, input_signature=[tf.TensorSpec([None, None], tf.int32)]
    )
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    restored = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(restored.serve(tf.constant(ids, tf.int32)), model(ids), atol=1e-6)


def test_an_unfitted_model_is_uniform():
    # What a registry build gives before counting: valid weights, uniform predictions.
    model = NGramLM(vocab_size=7, order=3)
    logits = keras.ops.convert_to_numpy(model(np.zeros((1, 2), np.int32)))
    np.testing.assert_allclose(logits, np.log(1 / 7), rtol=1e-6)


# ----------------------------------------------------------------------------- PTB


@pytest.fixture(scope="module")
def ptb(data_dir):
    from tasks import DataSpec, LanguageModelingTask

    return LanguageModelingTask.create(DataSpec("ptb", "word", sequence_length=35), {})


def test_ptb_slice_order_5_beats_order_1(ptb):
    train, test = ptb.tokens("train")[:200_000], ptb.tokens("test")[:20_000]
    perplexity = {}
    for order in (1, 5):
        model = NGramLM.fit(train, ptb.vocab_size, order)
        perplexity[order] = math.exp(-model.log_prob(test)[1:].mean())
    assert math.isfinite(perplexity[5]) and perplexity[5] < 0.5 * perplexity[1]

    probs = probabilities(model, test[:64].reshape(2, 32))
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)


# ----------------------------------------------------------------------------- CLI


def test_train_ngram_writes_a_run_that_reloads(run_module, tmp_path):
    from tasks.data import MarkovSource
    from zoo.runs import load_run

    run_dir = tmp_path / "run"
    result = run_module(
        "zoo.train_ngram", "--dataset=synthetic", "--tokenizer=char", "--order=3",
        f"--model_dir={run_dir}", "--sample_length=5",
    )
    assert result.returncode == 0, result.stderr
    for name in ("config.json", "summary.json", "metrics.jsonl", "eval_validation.json",
                 "eval_test.json", "model.keras", "tokenizer"):
        assert (run_dir / name).exists(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == "ngram_lm" and config["model_overrides"] == {"order": 3}
    validation = json.loads((run_dir / "eval_validation.json").read_text())
    task = load_run(str(run_dir)).task  # its saved tokenizer
    # The source is an order-2 Markov chain: 3-gram counts get close to the true chain's loss.
    optimum = MarkovSource().cross_entropy(task.corpus.split("validation"))
    assert validation["loss"] == pytest.approx(optimum, abs=0.02)

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    loss = -model.log_prob(task.tokens("validation"))[1:].mean()
    assert loss == pytest.approx(validation["loss"], rel=1e-9)


def test_train_ngram_bad_input_is_one_line(run_module, tmp_path):
    result = run_module("zoo.train_ngram", "--order=0", f"--model_dir={tmp_path}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("zoo.train_ngram: error: order")
