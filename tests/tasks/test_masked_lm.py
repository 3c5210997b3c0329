"""Masked LM: BERT's masking rates, a loss on the selected positions only, and the harness."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tasks import DataSpec, MaskedLanguageModelingTask
from tasks.data import MarkovSource
from tasks.masked_lm.masking import mask_tokens
from tests.tasks.harness import run_task_test
from zoo.config import RunConfig

ENCODER = {"num_layers": 1, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64,
           "sequence_length": 32, "dropout": 0.0}


def test_masking_follows_bert_rates():
    rng = np.random.default_rng(0)
    ids = rng.integers(10, 100, size=(512, 128)).astype(np.int32)
    selectable = np.ones_like(ids, bool)
    selectable[:, 0] = selectable[:, -1] = False  # [CLS] and [SEP]
    selectable[:256, 100:] = False  # padding in half of the rows
    masked = mask_tokens(ids, selectable, tf.constant([1, 2]), mask_id=3, vocab_size=100)
    weights = masked.weights.numpy()
    positions = masked.positions.numpy()
    assert weights[:256].sum(1).mean() == pytest.approx(0.15 * 99, abs=1)
    assert weights[256:].sum(1).mean() == pytest.approx(0.15 * 126, abs=1)
    chosen = np.take_along_axis(selectable, positions, 1)[weights > 0]
    assert chosen.all()  # never [CLS], [SEP] or padding
    before = np.take_along_axis(ids, positions, 1)[weights > 0]
    after = np.take_along_axis(masked.token_ids.numpy(), positions, 1)[weights > 0]
    assert np.array_equal(masked.targets.numpy()[weights > 0], before)
    assert (after == 3).mean() == pytest.approx(0.8, abs=0.02)
    kept = (after == before).mean()
    assert kept == pytest.approx(0.1 + 0.1 / 90, abs=0.02)  # unchanged, or replaced by itself
    unselected = np.ones_like(ids, bool)
    np.put_along_axis(unselected, positions, weights == 0, 1)
    assert np.array_equal(masked.token_ids.numpy()[unselected], ids[unselected])
    again = mask_tokens(ids, selectable, tf.constant([1, 2]), mask_id=3, vocab_size=100)
    assert np.array_equal(again.token_ids.numpy(), masked.token_ids.numpy())  # keyed by seed


@pytest.fixture(scope="module")
def text_folder(tmp_path_factory):
    corpus = MarkovSource(order=1, alphabet_size=6, seed=21).corpus(
        num_train=30_000, num_validation=3_000, num_test=3_000, seed=22
    )
    path = tmp_path_factory.mktemp("mlm_text")
    for split, name in (("train", "train"), ("validation", "valid"), ("test", "test")):
        text = corpus.split(split)
        lines = [text[i : i + 12] for i in range(0, len(text), 12)]  # "sentences" for NSP
        (path / f"{name}.txt").write_text("\n".join(lines), encoding="utf-8")
    return path


def test_loss_counts_the_selected_positions_only(text_folder):
    task = MaskedLanguageModelingTask.create(
        DataSpec(str(text_folder), "char", sequence_length=32), {}
    )
    features, targets, weights = next(iter(task.eval_dataset("validation", 8)))

    class Uniform:  # a model whose predictions are known: logits 0 except one favoured id
        def __call__(self, feats, training=None):
            logits = tf.one_hot(tf.zeros_like(feats["mask_positions"]), task.tokenizer.vocab_size)
            return {"mlm": logits * 5.0}

    loss_sum, weight, _ = task.loss(Uniform(), (features, targets, weights), (), training=False)
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(
        targets["mlm"], tf.one_hot(tf.zeros_like(targets["mlm"]), task.tokenizer.vocab_size) * 5
    )
    expected = float(tf.reduce_sum(per_token * weights["mlm"]))
    assert float(loss_sum) == pytest.approx(expected, rel=1e-6)
    assert float(weight) == float(tf.reduce_sum(weights["mlm"])) < 8 * 32 * 0.2


@pytest.mark.parametrize("options", [{}, {"nsp": True}], ids=["windows", "nsp"])
def test_masked_lm_through_the_task_harness(text_folder, tmp_path, options):
    config = RunConfig(
        model="bert_tiny", data=str(text_folder), tokenizer="char", model_overrides=ENCODER,
        batch_size=16, train_steps=80, eval_every=80, checkpoint_every=80, learning_rate=3e-3,
        warmup_steps=5, eval_batches=4, task_options=options, vocab_size=None,
    )
    result = run_task_test(config, tmp_path, learns_by=0.15)
    assert result.final["mlm_accuracy"] > 0.3  # six symbols: chance is 1/6
    assert set(result.signatures) == {"serving_default", "fill_mask"}
    filled = result.outputs["fill_mask"]
    assert len(filled["tokens"]) == 5 and filled["scores"][0][0] >= filled["scores"][0][-1]
    if options.get("nsp"):
        assert "nsp_accuracy" in result.final
        return
    # zoo.load: the run (its signature built in this process) fills as the export does.
    import zoo

    from_run, from_export = zoo.load(result.run_dir), zoo.load(result.export)
    assert isinstance(from_run, zoo.MaskFiller) and from_export.is_export
    filled = from_run.fill_mask("the [MASK] sat")
    assert [token for token, _ in filled] == [t for t in result.outputs["fill_mask"]["tokens"]]
    exported = from_export.fill_mask(["the [MASK] sat"])[0]
    assert [t for t, _ in exported] == [t for t, _ in filled]
    assert [p for _, p in exported] == pytest.approx([p for _, p in filled], abs=1e-5)
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        from_run.fill_mask("no mask here")
    # Keras' own loop: texts in, masked afresh every batch (so evaluations are noisy: the
    # check is that one sentence, repeated, is learned far past what the run knew of it).
    import keras

    model = from_run.model
    model.compile(optimizer=keras.optimizers.Adam(3e-3))  # the task's loss and metrics
    texts = [(text_folder / "train.txt").read_text().splitlines()[0]] * 64
    before = model.evaluate(texts, return_dict=True, verbose=0)
    model.fit(texts, epochs=12, batch_size=16, verbose=0)
    after = model.evaluate(texts, return_dict=True, verbose=0)
    assert after["loss"] < before["loss"] / 2, (before, after)
    assert after["accuracy"] > max(0.8, before["accuracy"] + 0.3), (before, after)


def test_sentence_pairs_for_next_sentence_prediction(text_folder):
    task = MaskedLanguageModelingTask.create(
        DataSpec(str(text_folder), "char", sequence_length=32), {"nsp": True}
    )
    features, targets, _ = next(iter(task.train_dataset(256, seed=1, start_step=0, num_steps=1)))
    ids, segments = features["token_ids"].numpy(), features["segment_ids"].numpy()
    mask = features["padding_mask"].numpy()
    special = task.tokenizer.special_ids
    assert (ids[:, 0] == special["cls"]).all()
    for row, seg, real in zip(ids, segments, mask):
        seps = np.flatnonzero(row == special["sep"])
        assert len(seps) == 2 and seps[1] == real.sum() - 1
        assert (seg[: seps[0] + 1] == 0).all() and (seg[seps[0] + 1 : seps[1] + 1] == 1).all()
    assert 0.4 < targets["nsp"].numpy().mean() < 0.6
    # Sentence packing: one line per row, padded.
    lines = MaskedLanguageModelingTask(task.corpus, task.tokenizer, 32, packing="sentences")
    features, _, _ = next(iter(lines.eval_dataset("validation", 4)))
    assert (features["padding_mask"].numpy().sum(1) == 12 + 2).all()  # 12 symbols + CLS, SEP


def test_masked_lm_trains_in_bfloat16(text_folder, tmp_path):
    """keras-hub's MaskedLMHead fails under a mixed policy; the head computes in float32."""
    from zoo.runs import make_trainer

    config = RunConfig(
        model="bert_tiny", data=str(text_folder), tokenizer="char", model_overrides=ENCODER,
        batch_size=16, train_steps=60, eval_every=60, checkpoint_every=60, learning_rate=3e-3,
        warmup_steps=5, vocab_size=None, mixed_precision="mixed_bfloat16", jit_compile=False,
    )
    trainer = make_trainer(config, str(tmp_path / "run"))
    assert trainer.model.backbone.compute_dtype == "bfloat16"
    before = trainer.evaluate("validation")["loss"]
    after = trainer.fit().validation["loss"]
    assert np.isfinite(after) and after < 0.85 * before
