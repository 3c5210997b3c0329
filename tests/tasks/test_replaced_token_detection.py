"""Replaced-token detection (ELECTRA): the generator's samples replace exactly the masked
tokens, the discriminator learns to spot them through the task harness, and a fine-tuning run
starts from the discriminator."""

from __future__ import annotations

import numpy as np
import pytest

from tasks import DataSpec, get_task
from tasks.data import DataError, MarkovSource
from tests.tasks.harness import run_task_test
from zoo.config import RunConfig
from zoo.runs import load_run, make_trainer

ENCODER = {"num_layers": 1, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64,
           "sequence_length": 32, "dropout": 0.0}


@pytest.fixture(scope="module")
def text_folder(tmp_path_factory):
    corpus = MarkovSource(order=1, alphabet_size=6, seed=21).corpus(
        num_train=30_000, num_validation=3_000, num_test=3_000, seed=22)
    path = tmp_path_factory.mktemp("rtd_text")
    for split, name in (("train", "train"), ("validation", "valid"), ("test", "test")):
        (path / f"{name}.txt").write_text(corpus.split(split), encoding="utf-8")
    return path


def rtd_config(folder, **changes) -> RunConfig:
    values = dict(model="bert_tiny", task="replaced_token_detection", data=str(folder),
                  tokenizer="char", model_overrides=ENCODER, batch_size=16, train_steps=120,
                  eval_every=120, checkpoint_every=120, learning_rate=3e-3, warmup_steps=5,
                  eval_batches=4, vocab_size=None, task_options={"generator_scale": 0.25})
    return RunConfig(**{**values, **changes})


@pytest.fixture(scope="module")
def trained(text_folder, tmp_path_factory):
    """A run through the task harness (trained, reloaded, evaluated, exported, served)."""
    return run_task_test(rtd_config(text_folder), tmp_path_factory.mktemp("rtd"),
                         learns_by=0.15)


def test_samples_replace_the_masked_tokens_and_nothing_else(text_folder, tmp_path):
    trainer = make_trainer(rtd_config(text_folder, train_steps=1), str(tmp_path / "run"))
    model, task = trainer.model, trainer.task
    generator = model.generator.backbone
    assert (generator.hidden_dim, generator.num_heads) == (8, 1)  # a quarter of 32, 2 heads
    assert not set(map(id, generator.weights)) & set(map(id, model.backbone.weights))
    features, targets, weights = next(iter(task.eval_dataset("validation", 8)))
    for noise in (0.0, 0.999999):  # the first or the last token of the vocabulary
        batch = {**features, "sample_noise": np.full(features["sample_noise"].shape, noise,
                                                     np.float32)}
        out = model(batch)
        replaced = np.asarray(out["replaced"])
        original = np.asarray(features["original_ids"])
        chosen = np.zeros_like(replaced, bool)
        positions, used = np.asarray(features["mask_positions"]), np.asarray(weights["mlm"]) > 0
        for row in range(len(chosen)):
            chosen[row, positions[row][used[row]]] = True
        assert not replaced[~chosen].any()  # only masked positions are ever replaced
        sample = 0 if noise == 0 else task.tokenizer.vocab_size - 1
        np.testing.assert_array_equal(replaced[chosen], original[chosen] != sample)
        assert np.asarray(out["rtd"]).shape == original.shape


def test_replaced_token_detection_through_the_task_harness(trained):
    # What a tiny model learns in a few steps: the generator's tokens and the share of
    # replacements (spotting them from context takes far longer; the SST-2 recipes measure it).
    initial, final = trained.initial, trained.final
    assert final["rtd_loss"] < 0.5 * initial["rtd_loss"], (initial, final)
    assert final["mlm_accuracy"] > 2 * initial["mlm_accuracy"], (initial, final)
    assert 0.03 < final["replaced_share"] < 0.15  # of the 15% masked, some sampled back
    assert set(trained.signatures) == {"serving_default", "detect"}
    detected = trained.outputs["detect"]
    assert detected["lengths"] == [len("the film sat")]  # characters
    assert len(detected["tokens"]) == len(detected["scores"][0]) == len("the film sat")
    assert all(0 <= p <= 1 for p in detected["scores"][0])


def test_a_classifier_fine_tunes_from_the_discriminator(trained, tmp_path):
    rows = [f"{'abab' if i % 2 else 'cdcd'} {i % 7}\t{i % 2}" for i in range(64)]
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n")
    config = RunConfig(model="bert_tiny", task="text_classification",
                       data=str(tmp_path / "train.tsv"), init_from=str(trained.run_dir),
                       model_overrides=ENCODER, batch_size=8, train_steps=1, eval_every=1,
                       checkpoint_every=1)
    classifier = make_trainer(config, str(tmp_path / "tuned")).model
    detector = load_run(str(trained.run_dir)).model
    ours = {v.path.split("/", 1)[1]: np.asarray(v) for v in classifier.backbone.weights}
    theirs = {v.path.split("/", 1)[1]: np.asarray(v) for v in detector.backbone.weights}
    assert ours.keys() == theirs.keys()
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)


def test_bad_settings_are_one_line_errors(text_folder):
    task = get_task("replaced_token_detection")
    spec = DataSpec(str(text_folder), "char", 32)
    for options, message in (({"nsp": True}, "no next-sentence"),
                             ({"generator_scale": 0}, "generator_scale"),
                             ({"rtd_weight": -1}, "rtd_weight")):
        with pytest.raises(DataError, match=message):
            task.create(spec, options)
