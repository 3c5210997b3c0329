"""The causal-LM task through the shared task harness, and what is particular to it."""

from __future__ import annotations

from tasks.data import MarkovSource
from tests.tasks.harness import run_task_test
from zoo.config import RunConfig

TINY = {"num_layers": 1, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64,
        "sequence_length": 16}


def test_causal_lm_through_the_task_harness(tmp_path):
    source = MarkovSource(order=1, alphabet_size=6, seed=11)
    corpus = source.corpus(num_train=20_000, num_validation=2_000, num_test=2_000, seed=12)
    path = tmp_path / "text"
    path.mkdir()
    for split, name in (("train", "train"), ("validation", "valid"), ("test", "test")):
        (path / f"{name}.txt").write_text(corpus.split(split), encoding="utf-8")
    config = RunConfig(
        data=str(path), model_overrides=TINY, batch_size=16, train_steps=60, eval_every=60,
        checkpoint_every=60, learning_rate=3e-3, warmup_steps=5, eval_batches=4,
        task_options={"sample_length": 8},
    )
    result = run_task_test(config, tmp_path)
    assert result.final["perplexity"] < result.initial["perplexity"]
    assert set(result.signatures) == {"serving_default", "generate", "score", "logits"}
    assert len(result.outputs["generate"]["token_ids"][0]) == 4
    assert result.outputs["score"]["num_tokens"] == [len("The quick brown fox") - 1]


def test_the_run_sample_ends_on_a_whole_word():
    from tasks.causal_lm.task import ending_on_a_word

    assert ending_on_a_word("ROMEO:\nto be or no") == "ROMEO:\nto be or"
    assert ending_on_a_word("to be or not\n") == "to be or not\n"
    assert ending_on_a_word("tobeornot") == "tobeornot"  # no whitespace: nothing to cut at
