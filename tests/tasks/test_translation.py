"""Translation: masks that hide the future and the source padding, beams, cached decoding,
sacreBLEU, and a tiny model that learns to reverse sequences through the task harness."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tasks import DataSpec, TranslationTask
from tasks.data import DataError
from tasks.decoding import generate
from tasks.text_to_text.model import Seq2SeqLM
from tasks.translation.task import translation_scores
from tests.tasks.harness import run_task_test
from zoo.config import RunConfig
from zoo.models import LSTMSeq2SeqAttention, TransformerSeq2Seq

SMALL = {"num_layers": 1, "num_heads": 4, "hidden_dim": 64, "intermediate_dim": 128,
         "sequence_length": 10, "dropout": 0.0}
LETTERS = "abcdefgh"


def reversal_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        word = rng.choice(list(LETTERS), size=rng.integers(3, 8))
        rows.append((" ".join(word), " ".join(word[::-1])))
    return rows


@pytest.fixture(scope="module")
def pairs_folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs")
    for split, count, seed in (("train", 4000, 1), ("dev", 200, 2), ("test", 200, 3)):
        (path / f"{split}.tsv").write_text(
            "".join(f"{s}\t{t}\n" for s, t in reversal_pairs(count, seed)), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["transformer", "lstm"])
def model(request):
    tf.keras.utils.set_random_seed(0)
    if request.param == "transformer":
        backbone = TransformerSeq2Seq(20, 12, num_layers=2, num_heads=2, hidden_dim=16,
                                      dropout=0.0, name="backbone")
    else:
        backbone = LSTMSeq2SeqAttention(20, 16, sequence_length=12, dropout=0.0,
                                        name="backbone")
    model = Seq2SeqLM(backbone, 20, tie_embeddings=request.param == "transformer")
    ones = tf.ones([1, 2], tf.int32)
    model({"source_ids": ones, "source_mask": ones, "target_ids": ones})
    return model


def features(seed=0):
    rng = np.random.default_rng(seed)
    source = rng.integers(3, 20, size=(2, 7)).astype(np.int32)
    mask = np.ones_like(source)
    mask[1, 4:] = 0
    target = rng.integers(3, 20, size=(2, 6)).astype(np.int32)
    return {"source_ids": source, "source_mask": mask, "target_ids": target}


def test_the_decoder_sees_neither_the_future_nor_the_source_padding(model):
    inputs = features()
    logits = model(inputs).numpy()
    later = {**inputs, "target_ids": inputs["target_ids"].copy()}
    later["target_ids"][:, 3:] = (later["target_ids"][:, 3:] + 1) % 20
    np.testing.assert_allclose(model(later).numpy()[:, :3], logits[:, :3], atol=1e-5)
    assert not np.allclose(model(later).numpy()[:, 3:], logits[:, 3:])
    padded = {**inputs, "source_ids": inputs["source_ids"].copy()}
    padded["source_ids"][1, 4:] = 1  # the second source's padding positions
    np.testing.assert_allclose(model(padded).numpy()[1], logits[1], atol=1e-5)
    real = {**inputs, "source_ids": inputs["source_ids"].copy()}
    real["source_ids"][1, 0] = (real["source_ids"][1, 0] + 1) % 20
    assert not np.allclose(model(real).numpy()[1], logits[1])


def test_cached_decoding_equals_recomputation_and_one_beam_is_greedy(model):
    inputs = features(1)
    conditioned = model.conditioned(model.encode(inputs["source_ids"], inputs["source_mask"]),
                                    inputs["source_mask"])
    prompt, lengths = np.full((2, 1), 1, np.int32), np.ones(2, np.int32)
    cached, _ = generate(conditioned, prompt, lengths, max_new_tokens=6)
    # The slow way: the whole target so far through the full model, for every new token.
    ids = prompt
    for _ in range(6):
        logits = model({**inputs, "target_ids": ids}).numpy()
        ids = np.concatenate([ids, logits[:, -1].argmax(-1)[:, None].astype(np.int32)], 1)
    np.testing.assert_array_equal(cached.numpy(), ids[:, 1:])
    beam, _ = generate(conditioned, prompt, lengths, max_new_tokens=6, num_beams=1)
    np.testing.assert_array_equal(beam.numpy(), cached.numpy())
    four, _, scores = generate(conditioned, prompt, lengths, max_new_tokens=6, num_beams=4,
                               return_scores=True)
    _, _, greedy_scores = generate(conditioned, prompt, lengths, max_new_tokens=6,
                                   return_scores=True)
    assert np.all(scores.numpy() >= greedy_scores.numpy() - 1e-4)  # beams find no worse


def test_sacrebleu_gives_its_documented_scores():
    refs = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
            ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
    hypotheses = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    import sacrebleu  # the two reference sets as sacrebleu's README scores them: 48.53, 59.73

    assert sacrebleu.corpus_bleu(hypotheses, refs).score == pytest.approx(48.5308, abs=1e-3)
    assert translation_scores(hypotheses, refs[0])["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(hypotheses, [refs[0]]).score)
    assert translation_scores(hypotheses, hypotheses) == {"bleu": pytest.approx(100.0),
                                                           "chrf": pytest.approx(100.0)}


def test_a_tiny_transformer_learns_to_reverse_through_the_harness(pairs_folder, tmp_path):
    config = RunConfig(
        model="transformer_seq2seq_small", data=str(pairs_folder), tokenizer="word",
        model_overrides=SMALL, batch_size=64, train_steps=400, eval_every=400,
        checkpoint_every=400, learning_rate=3e-3, warmup_steps=30, eval_batches=2,
        task_options={"num_beams": 2, "bleu_examples": 100, "label_smoothing": 0.0},
    )
    result = run_task_test(config, tmp_path, learns_by=0.5)
    assert result.final["token_accuracy"] > 0.95
    assert result.final["bleu"] > 90 and result.final["chrf"] > 90
    assert set(result.signatures) == {"serving_default", "translate"}
    from zoo.runs import load_run

    run = load_run(str(result.run_dir))
    sources, references = run.task.split("test")
    translated = run.task.translate(run.model, sources[:100], num_beams=2)
    exact = np.mean([t == r for t, r in zip(translated, references[:100])])
    assert exact > 0.9, list(zip(translated[:5], references[:5]))


def test_directions_and_bad_pairs(tmp_path, pairs_folder):
    spec = DataSpec(str(pairs_folder), "word", sequence_length=10)
    with pytest.raises(DataError, match="languages are not known"):
        TranslationTask.create(spec, {"source_lang": "en"})
    (tmp_path / "bad.tsv").write_text("only one column\n")
    with pytest.raises(DataError, match="1 column"):
        TranslationTask.create(DataSpec(str(tmp_path / "bad.tsv"), "word", 10), {})
