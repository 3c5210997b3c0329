"""Runs that never lie or restart silently: damaged checkpoints, a kill before the summary,
a damaged config.json."""

from __future__ import annotations

import json
import shutil

import pytest

from tasks.data import MarkovSource
from zoo.config import ConfigError, RunConfig
from zoo.runs import load_run, make_trainer

TINY = {"num_layers": 1, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32,
        "sequence_length": 8}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A 30-step run checkpointed at 10, 20 and 30, and its corpus file."""
    root = tmp_path_factory.mktemp("faults")
    corpus = root / "text.txt"
    source = MarkovSource(order=1, alphabet_size=5, seed=1).corpus(num_train=4000,
                                                                   num_validation=500, seed=2)
    corpus.write_text(source.split("train") + source.split("validation"))
    config = RunConfig(data=str(corpus), model_overrides=TINY, batch_size=4, train_steps=30,
                       eval_every=10, checkpoint_every=10, eval_batches=2,
                       task_options={"sample_length": 2})
    make_trainer(config, str(root / "run")).fit()
    return root, config


def copy_of(finished, tmp_path):
    root, config = finished
    shutil.copytree(root / "run", tmp_path / "run")
    return tmp_path / "run", config


def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(finished, tmp_path, capsys):
    run, config = copy_of(finished, tmp_path)
    data = next((run / "checkpoints").glob("ckpt-30.data*"))
    data.write_bytes(b"xx")
    assert make_trainer(config, str(run)).restore() == 20
    assert "ckpt-30" in capsys.readouterr().err
    assert load_run(str(run)).step == 20
    (run / "checkpoints" / "ckpt-20.index").write_bytes(b"garbage")
    assert make_trainer(config, str(run)).restore() == 10


def test_no_readable_checkpoint_is_an_error_not_a_restart(finished, tmp_path):
    run, config = copy_of(finished, tmp_path)
    for index in (run / "checkpoints").glob("ckpt-*.index"):
        index.write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="no readable checkpoint"):
        make_trainer(config, str(run)).restore()


def test_a_save_killed_midway_leaves_nothing_after_the_resume(finished, tmp_path, capsys):
    run, config = copy_of(finished, tmp_path)
    unfinished = run / "checkpoints" / "ckpt-40_temp"  # TensorFlow's folder before its rename
    unfinished.mkdir()
    for part in (run / "checkpoints").glob("ckpt-30.*"):
        shutil.copy(part, unfinished / part.name.replace("ckpt-30", "part-00000-of-00001"))
    assert load_run(str(run)).step == 30 and unfinished.is_dir()  # a reader removes nothing
    assert make_trainer(config, str(run)).restore() == 30
    assert not unfinished.exists() and "ckpt-40_temp" in capsys.readouterr().out


def test_a_garbage_checkpoint_state_file_does_not_restart_from_zero(finished, tmp_path):
    run, config = copy_of(finished, tmp_path)
    (run / "checkpoints" / "checkpoint").write_text("garbage {{{")
    assert make_trainer(config, str(run)).restore() == 30


def test_a_kill_before_the_summary_leaves_a_true_summary_after_the_rerun(finished, tmp_path):
    run, config = copy_of(finished, tmp_path)
    original = json.loads((run / "summary.json").read_text())
    (run / "summary.json").unlink()  # killed after the last checkpoint, before the summary
    make_trainer(config, str(run)).fit()
    text = (run / "summary.json").read_text()
    summary = json.loads(text)  # valid JSON: no NaN
    assert "NaN" not in text
    assert summary["step"] == 30
    assert summary["train_loss"] == pytest.approx(original["train_loss"], rel=1e-6)
    assert summary["train_seconds"] >= original["train_seconds"] * 0.9
    assert summary["tokens_per_second"] > 0
    assert summary["validation"]["loss"] == pytest.approx(original["validation"]["loss"],
                                                          rel=1e-6)


def test_a_damaged_config_is_an_error_and_is_left_alone(finished, tmp_path):
    run, config = copy_of(finished, tmp_path)
    (run / "config.json").write_text('{"model": "transformer_lm_tiny", "batch')
    with pytest.raises(ConfigError, match="not valid JSON"):
        make_trainer(config, str(run))
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_run(str(run))
    assert (run / "config.json").read_text().endswith('"batch')
