"""The synthetic Markov source: its exact entropy rate is what its samples actually cost."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.data import DataError, MarkovSource, load_corpus


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"order": 0},
        {"order": 3, "alphabet_size": 4},
        {"order": 1, "alphabet_size": 26, "concentration": 0.05},
    ],
)
def test_entropy_rate_is_the_log_loss_of_the_true_model(settings):
    source = MarkovSource(**settings)
    sample = source.sample(400_000, seed=1)
    assert source.cross_entropy(sample) == pytest.approx(source.entropy_rate(), rel=0.01)


def test_entropy_rate_is_well_below_uniform():
    source = MarkovSource()
    assert 0 < source.entropy_rate() < 0.75 * math.log(len(source.alphabet))


def test_stationary_distribution_is_stationary():
    source = MarkovSource(order=2, alphabet_size=3)
    pi = source.stationary_distribution()
    # One step of the chain from pi: P(next context) = sum_c pi(c) P(symbol | c).
    stepped = np.zeros_like(pi)
    for symbol in range(3):
        np.add.at(stepped, (np.arange(9) * 3 + symbol) % 9, pi * source.probs[:, symbol])
    assert pi.sum() == pytest.approx(1.0)
    assert np.all(pi > 0)
    np.testing.assert_allclose(stepped, pi, atol=1e-12)


def test_same_seed_same_chain_and_sample():
    a, b = MarkovSource(seed=3), MarkovSource(seed=3)
    assert a.entropy_rate() == b.entropy_rate()
    assert a.sample(1000, seed=5) == b.sample(1000, seed=5)
    assert a.sample(1000, seed=5) != a.sample(1000, seed=6)
    assert MarkovSource(seed=4).entropy_rate() != a.entropy_rate()
    assert set(a.sample(1000)) <= set("abcdefgh")


def test_load_corpus_synthetic_is_a_fixed_default():
    corpus = load_corpus("synthetic")
    assert corpus.name == "synthetic"
    assert {split: len(text) for split, text in corpus.splits.items()} == {
        "train": 200_000,
        "validation": 20_000,
        "test": 20_000,
    }
    assert load_corpus("synthetic").splits == corpus.splits
    assert "MarkovSource(order=2" in corpus.source


def test_corpus_sizes_and_seed():
    source = MarkovSource()
    corpus = source.corpus(num_train=500, num_validation=50, num_test=0, seed=2)
    assert list(corpus.splits) == ["train", "validation"]
    assert corpus.split("train") + corpus.split("validation") == source.sample(550, seed=2)


def test_bad_settings_are_data_errors():
    with pytest.raises(DataError, match="alphabet_size"):
        MarkovSource(alphabet_size=1)
    with pytest.raises(DataError, match="concentration"):
        MarkovSource(concentration=0)
    with pytest.raises(DataError, match="not in the alphabet"):
        MarkovSource().cross_entropy("abz")
