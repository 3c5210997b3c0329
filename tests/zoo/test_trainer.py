"""The training loop in-process: it learns a source whose optimum is known, and it resumes."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from tasks import LanguageModelingTask
from tasks.data import build_tokenizer
from tasks.data.synthetic import MarkovSource
from tasks.decoding import generate_tokens
from zoo.config import RunConfig
from zoo.runs import make_trainer

# Rotary positions make "look k symbols back" easy to learn, which is all a Markov source needs.
SMALL = {"num_layers": 2, "num_heads": 2, "hidden_dim": 64, "intermediate_dim": 256,
         "sequence_length": 64, "position": "none", "rotary": True}


@pytest.fixture(scope="module")
def markov_task():
    source = MarkovSource(order=2, alphabet_size=8, seed=3)
    corpus = source.corpus(num_train=120_000, num_validation=20_000, seed=4)
    tokenizer = build_tokenizer("char", corpus.split("train"))
    return source, LanguageModelingTask(corpus, tokenizer, sequence_length=64, sample_length=20)


def test_transformer_reaches_the_entropy_rate_of_a_markov_source(markov_task, tmp_path):
    source, task = markov_task
    config = RunConfig(
        dataset="synthetic", model_overrides=SMALL, batch_size=32, train_steps=500,
        learning_rate=3e-3, warmup_steps=20, min_learning_rate=3e-4, eval_every=500,
        checkpoint_every=500, log_every=50,
    )
    result = make_trainer(config, str(tmp_path / "run"), task=task).fit()
    entropy = source.entropy_rate()
    assert result.validation["loss"] <= 1.05 * entropy, (result.validation, entropy)
    assert result.validation["loss"] >= 0.97 * entropy  # a model cannot beat the true source
    assert (tmp_path / "run" / "summary.json").is_file()
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000


def test_restart_continues_from_the_checkpoint(markov_task, tmp_path):
    _, task = markov_task
    config = RunConfig(
        dataset="synthetic", model_overrides={**SMALL, "num_layers": 1, "dropout": 0.1},
        batch_size=8, train_steps=30, eval_every=30, checkpoint_every=10, log_every=10,
        eval_batches=4, lr_schedule="constant",
    )
    # A constant schedule makes a 20-step run a true prefix of the 30-step one; the kill -9 test
    # in tests/cli covers the real interruption.
    straight = make_trainer(config, str(tmp_path / "straight"), task=task).fit()
    partial = make_trainer(dataclasses.replace(config, train_steps=20), str(tmp_path / "resumed"),
                      task=task)
    partial.fit()
    resumed = make_trainer(config, str(tmp_path / "resumed"), task=task)
    assert resumed.restore() == 20
    result = resumed.fit()
    assert result.step == straight.step == 30
    assert result.train_loss == pytest.approx(straight.train_loss, rel=1e-5)
    assert result.validation["loss"] == pytest.approx(straight.validation["loss"], rel=1e-5)


LSTM = {"hidden_dim": 16, "sequence_length": 10, "init_scale": 0.1}


@pytest.fixture(scope="module")
def stream_task():
    corpus = MarkovSource(order=1, alphabet_size=6, seed=5).corpus(
        num_train=4000, num_validation=700, num_test=100, seed=6
    )
    tokenizer = build_tokenizer("char", corpus.split("train"))
    return LanguageModelingTask(corpus, tokenizer, sequence_length=10, stateful=True,
                                tie_embeddings=False, head_bias=True)


def test_stateful_training_carries_state_across_batches(stream_task, tmp_path):
    config = RunConfig(
        model="lstm_lm_small", model_overrides=LSTM, batch_size=4,
        train_steps=3, optimizer="sgd", learning_rate=0.0, lr_schedule="constant",
        jit_compile=False,
    )
    trainer = make_trainer(config, str(tmp_path / "run"), task=stream_task)
    iterator = trainer.train_iterator(0)
    for _ in range(3):
        trainer.train_step(iterator)
    # With a zero learning rate the weights stay put, so the state carried through three batches
    # must be the state after reading the first 30 tokens of each stream in one go.
    ids = stream_task.tokens("train")
    stream = len(ids) // 4
    rows = ids[: 4 * stream].reshape(4, stream)[:, :30]
    _, expected = trainer.model.call_with_state(rows)
    for got, want in zip(tf.nest.flatten(trainer.carry), tf.nest.flatten(expected)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_stateful_evaluation_scores_the_whole_stream(stream_task, tmp_path):
    config = RunConfig(model="lstm_lm_small", model_overrides=LSTM, batch_size=4,
                       train_steps=1, jit_compile=False)
    trainer = make_trainer(config, str(tmp_path / "run"), task=stream_task)
    ids = stream_task.tokens("validation")
    logits = trainer.model(ids[None, :-1])
    expected = float(np.mean(stream_task.token_losses(ids[None, 1:], logits)))
    assert trainer.evaluate("validation")["loss"] == pytest.approx(expected, rel=1e-5)


def test_the_end_of_run_sample_is_sampled_and_the_same_on_a_rerun(markov_task, tmp_path):
    _, task = markov_task
    config = RunConfig(dataset="synthetic", model_overrides={**SMALL, "num_layers": 1},
                       train_steps=1, jit_compile=False)
    trainer = make_trainer(config, str(tmp_path / "run"), task=task)
    sample = task.sample(trainer.model, 80)
    assert task.sample(trainer.model, 80) == sample
    prompt = task.tokenizer.encode("\n")[None, :]
    greedy = task.tokenizer.decode(generate_tokens(trainer.model, prompt, 80)[0].tolist())
    assert sample != greedy
    assert len(set(sample)) > 4  # an untrained model's greedy text repeats one or two symbols


def test_several_steps_per_call_train_exactly_as_one(markov_task, tmp_path):
    """steps_per_execution only batches calls: same losses, same weights, logs on their steps."""
    _, task = markov_task
    config = RunConfig(
        dataset="synthetic", model_overrides={**SMALL, "num_layers": 1, "dropout": 0.1},
        batch_size=8, train_steps=23, eval_every=10, checkpoint_every=10, log_every=5,
        eval_batches=2, steps_per_execution=1,
    )
    runs = {}
    for spe in (1, 7):
        trainer = make_trainer(dataclasses.replace(config, steps_per_execution=spe),
                               str(tmp_path / f"spe{spe}"), task=task)
        runs[spe] = (trainer.fit(), [w.numpy() for w in trainer.model.weights])
    (one, weights_one), (seven, weights_seven) = runs[1], runs[7]
    assert seven.train_loss == one.train_loss
    assert seven.validation["loss"] == one.validation["loss"]
    for a, b in zip(weights_one, weights_seven, strict=True):
        np.testing.assert_array_equal(a, b)
    steps = [json.loads(line)["step"] for line in (tmp_path / "spe7" / "metrics.jsonl").open()]
    assert steps == [10, 20, 23]
