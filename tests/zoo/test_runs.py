"""zoo.runs: a run reloads from its directory alone, and a new run can start from another's."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tasks.data import DataError, MarkovSource
from tasks.decoding import SamplingConfig
from zoo.config import ConfigError, RunConfig
from zoo.export import export_saved_model
from zoo.runs import load_run, make_trainer

TINY = {"num_layers": 1, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64,
        "sequence_length": 16}


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    corpus = MarkovSource(order=1, alphabet_size=6, seed=2).corpus(num_train=9000,
                                                                   num_validation=1000, seed=3)
    path.write_text(corpus.split("train") + corpus.split("validation"), encoding="utf-8")
    return path


def config_for(data, **changes) -> RunConfig:
    base = RunConfig(data=str(data), model_overrides=TINY, batch_size=8, train_steps=20,
                     eval_every=20, checkpoint_every=20, eval_batches=2,
                     task_options={"sample_length": 4})
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def trained(corpus_file, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "pretrained"
    result = make_trainer(config_for(corpus_file), str(run_dir)).fit()
    return run_dir, result


def test_a_run_exports_and_reloads_without_its_corpus(trained, corpus_file, tmp_path):
    run_dir, result = trained
    moved = corpus_file.with_suffix(".away")
    corpus_file.rename(moved)
    try:
        run = load_run(str(run_dir))  # reads config.json, tokenizer/ and the checkpoint only
        assert run.step == 20
        ids = run.task.tokenizer.encode("abcab")[None, :]
        assert run.model(ids).shape == (1, 5, run.task.tokenizer.vocab_size)
        export = export_saved_model(str(run_dir), str(tmp_path / "out"),
                                    sampling=SamplingConfig(max_new_tokens=4))
        assert (tmp_path / "out" / "transformer_lm_tiny" / "1") .samefile(export)
        with pytest.raises(DataError, match="text.txt"):  # evaluating needs the text itself
            run.task.tokens("validation")
    finally:
        moved.rename(corpus_file)
    assert load_run(str(run_dir)).task.tokens("validation").size > 0


def test_loading_is_free_of_global_state(trained):
    import keras

    policy = keras.config.dtype_policy().name
    run = load_run(str(trained[0]))
    assert run.model.compute_dtype == "float32"
    assert keras.config.dtype_policy().name == policy


def test_init_from_starts_from_the_pretrained_backbone(trained, corpus_file, tmp_path):
    run_dir, _ = trained
    pretrained = load_run(str(run_dir))
    config = config_for(corpus_file, init_from=str(run_dir), train_steps=1, learning_rate=0.0,
                        lr_schedule="constant", weight_decay=0.0)
    trainer = make_trainer(config, str(tmp_path / "fine_tuned"))
    theirs = {w.path.split("/", 1)[1]: w.numpy() for w in pretrained.model.backbone.weights}
    ours = {w.path.split("/", 1)[1]: w.numpy() for w in trainer.model.backbone.weights}
    assert theirs.keys() == ours.keys()
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)
    trainer.fit()
    saved = json.loads((tmp_path / "fine_tuned" / "tokenizer" / "tokenizer.json").read_text())
    assert saved == json.loads((run_dir / "tokenizer" / "tokenizer.json").read_text())


def test_init_from_an_incompatible_backbone_is_a_clear_error(trained, corpus_file, tmp_path):
    config = config_for(corpus_file, init_from=str(trained[0]),
                        model_overrides={**TINY, "hidden_dim": 16, "intermediate_dim": 32})
    with pytest.raises(DataError, match="backbones differ"):
        make_trainer(config, str(tmp_path / "other"))


def test_loading_something_that_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match="no such run directory"):
        load_run(str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="not a run directory"):
        load_run(str(tmp_path))
