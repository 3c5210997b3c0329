"""Summarization and the text-to-text core it shares with translation: ROUGE against hand-worked
figures and rouge-score itself, AESLC's loader, the two layouts, and tiny models (an
encoder-decoder and a GPT) that learn a synthetic summary through the task harness."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from tasks import DataSpec, SummarizationTask
from tasks.data import DataError
from tasks.summarization.rouge import lead_summaries, rouge_scores
from tasks.summarization.summaries import load_references, load_summaries
from tasks.text_to_text.layouts import DecoderOnly, EncoderDecoder, Lengths
from tasks.text_to_text.length_buckets import LengthBuckets
from tests.tasks.harness import run_task_test
from zoo.config import RunConfig

IDS = {"pad": 0, "bos": 1, "eos": 2}
WORDS = [f"w{i}" for i in range(16)]


# ----------------------------------------------------------------------------- ROUGE


def test_rouge_of_hand_worked_examples():
    # "the cat sat" against "the cat sat on the mat": unigrams P 3/3, R 3/6 -> F 2/3; bigrams
    # P 2/2, R 2/5 -> F 4/7; the longest common subsequence is 3 tokens -> as unigrams.
    scores = rouge_scores(["the cat sat"], [("the cat sat on the mat",)])
    assert scores == pytest.approx({"rouge1": 200 / 3, "rouge2": 400 / 7, "rougeL": 200 / 3})
    # Porter stemming: "running" and "runs" are both "run"; case and punctuation go.
    assert rouge_scores(["Running!"], [("runs",)])["rouge1"] == pytest.approx(100.0)
    # Two references: the mean of the two, and the best one as _max.
    two = rouge_scores(["a b"], [("a b", "c d")])
    assert two["rouge1"] == pytest.approx(50.0) and two["rouge1_max"] == pytest.approx(100.0)


def test_rouge_is_rouge_score_averaged_over_references():
    from rouge_score import rouge_scorer

    rng = np.random.default_rng(0)
    text = lambda n: " ".join(rng.choice(WORDS[:8], size=n))  # noqa: E731
    summaries = [text(rng.integers(1, 8)) for _ in range(40)]
    references = [tuple(text(rng.integers(1, 8)) for _ in range(3)) for _ in range(40)]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    ours = rouge_scores(summaries, references)
    for kind in ("rouge1", "rouge2", "rougeL"):
        each = [[scorer.score(r, s)[kind].fmeasure for r in refs]
                for s, refs in zip(summaries, references)]
        assert ours[kind] == pytest.approx(100 * np.mean([np.mean(e) for e in each]))
        assert ours[f"{kind}_max"] == pytest.approx(100 * np.mean([max(e) for e in each]))


def test_lead_summaries_take_the_first_words():
    assert lead_summaries(["one two\nthree four", "x"], 3) == ["one two three", "x"]


# ----------------------------------------------------------------------------- AESLC


def write_aeslc(root, rows_per_split=4):
    folder = root / "aeslc"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        lines = []
        for i in range(rows_per_split):
            row = {"id": f"{split}_{i}", "email": f"Hello,\nplease send file {i}.",
                   "subject": f"file {i}"}
            if split != "train":
                row["annotations"] = [f"file {i}", f"send file {i}", f"request {i}"]
            lines.append(json.dumps(row))
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_aeslc_reads_emails_subjects_and_annotations(tmp_path, monkeypatch):
    write_aeslc(tmp_path)
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    examples = load_summaries("aeslc")
    assert examples.name == "aeslc" and set(examples.splits) == {"train", "validation", "test"}
    sources, targets = examples.split("test")
    assert sources[1] == "Hello,\nplease send file 1." and targets[1] == "file 1"
    refs = load_references("aeslc", examples, "test")
    assert refs.ids[2] == "test_2" and refs.references[2] == ("file 2", "send file 2",
                                                              "request 2")
    assert refs.originals == targets
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="not downloaded by the zoo"):
        load_summaries("aeslc")


# ----------------------------------------------------------------------------- the core


def test_length_buckets_cover_every_example_once_an_epoch_and_are_keyed_by_step():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=1000)
    buckets = LengthBuckets(lengths, sequence_length=32)
    assert buckets.ends == [8, 16, 24, 32]
    per_epoch = buckets.batches_per_epoch(16)
    seen = []
    for step in range(per_epoch):
        width, indices = buckets.step(16, 7, step)
        assert width in buckets.ends and len(indices) == 16
        assert (np.minimum(lengths[indices], 32) <= width).all()
        seen += list(indices)
    assert len(set(seen)) == len(seen) > 900  # each bucket drops a partial batch at most
    assert LengthBuckets(lengths, 32).step(16, 7, 5)[1].tolist() == buckets.step(16, 7, 5)[
        1].tolist()
    assert buckets.step(16, 8, 5)[1].tolist() != buckets.step(16, 7, 5)[1].tolist()


PAIRS = [(np.array([5, 6, 7, 8, 9]), np.array([10, 11])),
         (np.array([5, 6]), np.array([12, 13, 14, 15]))]


def ragged(rows):
    return tf.ragged.constant([r.tolist() for r in rows], dtype=tf.int32)


def test_decoder_only_rows_score_the_summary_and_match_the_graph_batch():
    layout = DecoderOnly(IDS, Lengths(source=4, target=3, sequence=10, shared=False))
    inputs, outputs, weights = layout.rows(PAIRS, width=10)
    # Row 0: source cut to 4, <s>, target, </s>: inputs read all but the last token.
    np.testing.assert_array_equal(inputs[0], [5, 6, 7, 8, 1, 10, 11, 0, 0, 0])
    np.testing.assert_array_equal(outputs[0], [6, 7, 8, 1, 10, 11, 2, 0, 0, 0])
    np.testing.assert_array_equal(weights[0], [0, 0, 0, 0, 1, 1, 1, 0, 0, 0])  # from <s> on
    np.testing.assert_array_equal(inputs[1], [5, 6, 1, 12, 13, 14, 0, 0, 0, 0])  # cut to 3
    assert weights[1].sum() == 4
    graph = layout.graph_batch(ragged([p[0] for p in PAIRS]), ragged([p[1] for p in PAIRS]))
    for ours, theirs in zip((inputs, outputs, weights), graph):
        np.testing.assert_array_equal(ours, theirs.numpy())


def test_encoder_decoder_pads_the_target_to_its_cap_and_matches_the_graph_batch():
    layout = EncoderDecoder(IDS, Lengths(source=8, target=3, sequence=8, shared=False))
    features, outputs, weights = layout.rows(PAIRS, width=8)
    assert features["source_ids"].shape == (2, 8) and outputs.shape == (2, 4)
    np.testing.assert_array_equal(features["target_ids"][1], [1, 12, 13, 14])
    np.testing.assert_array_equal(outputs[1], [12, 13, 14, 2])
    graph = layout.graph_batch(ragged([p[0] for p in PAIRS]), ragged([p[1] for p in PAIRS]))
    np.testing.assert_array_equal(graph[0]["target_ids"].numpy(), features["target_ids"])
    np.testing.assert_array_equal(graph[1].numpy(), outputs)
    np.testing.assert_array_equal(graph[2].numpy(), weights)


def test_an_encoder_only_backbone_is_refused(tmp_path):
    from zoo.models import TransformerEncoder

    (tmp_path / "pairs.tsv").write_text("a b c\ta\nb c d\tb\n")
    with pytest.raises(DataError, match="encoder-decoder .* or a causal language model"):
        SummarizationTask.create(DataSpec(str(tmp_path / "pairs.tsv"), "word", 16,
                                          backbone=TransformerEncoder), {})


# ----------------------------------------------------------------------------- learning


def lead_three_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    """A text of 6-12 words; its "summary" is its first three words, reversed."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        words = list(rng.choice(WORDS, size=rng.integers(6, 13)))
        rows.append((" ".join(words), " ".join(words[:3][::-1])))
    return rows


@pytest.fixture(scope="module")
def summaries_folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("summaries")
    for split, count, seed in (("train", 3000, 1), ("dev", 100, 2)):
        (path / f"{split}.jsonl").write_text("".join(
            json.dumps({"text": s, "summary": t}) + "\n" for s, t in lead_three_pairs(count, seed)),
            encoding="utf-8")
    return path


TINY = {"num_layers": 1, "num_heads": 2, "hidden_dim": 48, "intermediate_dim": 96,
        "sequence_length": 16, "dropout": 0.0}


@pytest.mark.parametrize("model, copy", [("transformer_seq2seq_small", True),
                                         ("transformer_lm_tiny", False)],
                         ids=["encoder_decoder_copying", "decoder_only"])
def test_a_tiny_model_learns_a_synthetic_summary_through_the_harness(
        summaries_folder, tmp_path, model, copy):
    # (translation's harness test runs the encoder-decoder without copying)
    config = RunConfig(
        model=model, task="summarization", data=str(summaries_folder), tokenizer="word",
        model_overrides=TINY, batch_size=32, train_steps=300, eval_every=300,
        checkpoint_every=300, learning_rate=3e-3, warmup_steps=30, eval_batches=2,
        task_options={"num_beams": 2, "max_target_tokens": 4, "label_smoothing": 0.0,
                      "source_column": "text", "target_column": "summary",
                      "copy_attention": copy},
    )
    result = run_task_test(config, tmp_path, learns_by=0.5)
    assert result.final["rougeL"] > 90 and result.final["rouge2"] > 85, result.final
    assert "Porter stemmer on" in result.final["rouge"]
    assert set(result.signatures) == {"serving_default", "summarize"}
    lines = (result.run_dir / "predictions.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 100 and set(first) == {"id", "prediction", "references"}
    assert first["prediction"] == first["references"][0], first


# ----------------------------------------------------------------------------- copying


def test_copy_attention_mixes_two_distributions_into_log_probabilities():
    from tasks.text_to_text.copy_attention import CopyAttention

    layer = CopyAttention(vocab_size=10, hidden_dim=4)
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(2, 3, 10)), tf.float32)
    hidden = tf.constant(rng.normal(size=(2, 3, 4)), tf.float32)
    encoded = tf.constant(rng.normal(size=(2, 5, 4)), tf.float32)
    mask = tf.constant([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    ids = tf.constant([[7, 7, 3, 9, 9], [1, 2, 3, 4, 5]])
    out = layer(logits, hidden, encoded, mask, ids)
    np.testing.assert_allclose(tf.reduce_sum(tf.exp(out), -1).numpy(), 1.0, rtol=1e-5)
    layer.gate.bias.assign([-50.0])  # p_gen = 0: only copying, only from real source tokens
    copied = tf.exp(layer(logits, hidden, encoded, mask, ids)).numpy()
    assert copied[0, :, [7, 3]].sum(axis=0) == pytest.approx(1.0, abs=1e-5)  # 9 is padding
    assert copied[1, :, 0].max() < 1e-6 and copied[1, :, 6:].max() < 1e-6


def held_out_names(count: int, seed: int, copied: str, seen: str) -> list[tuple[str, str]]:
    """"cc X please call A about B today" -> "A B": A, B from `copied` names, X from `seen`."""
    rng = np.random.default_rng(seed)
    names = {p: [f"{p}{i}" for i in range(60)] for p in (copied, seen)}
    rows = []
    for _ in range(count):
        a, b = rng.choice(names[copied], 2, replace=False)
        rows.append((f"cc {rng.choice(names[seen])} please call {a} about {b} today", f"{a} {b}"))
    return rows


@pytest.fixture(scope="module")
def names_folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("names")
    # Training summaries hold only "t" names; the dev ones hold only "h" names, which training
    # shows in sources (so they have tokens) but never as a summary.
    for split, rows in (("train", held_out_names(2000, 1, "t", "h")),
                        ("dev", held_out_names(60, 2, "h", "t"))):
        (path / f"{split}.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in rows))
    return path


def test_copy_attention_writes_names_never_seen_in_a_summary(names_folder, tmp_path):
    from zoo.runs import make_trainer

    found = {}
    for copy in (False, True):
        config = RunConfig(
            model="transformer_seq2seq_small", task="summarization", data=str(names_folder),
            tokenizer="word", model_overrides=TINY, batch_size=32, train_steps=250,
            eval_every=250, checkpoint_every=250, learning_rate=3e-3, warmup_steps=25,
            eval_batches=1, task_options={"num_beams": 1, "max_target_tokens": 3,
                                          "copy_attention": copy})
        found[copy] = make_trainer(config, str(tmp_path / f"copy_{copy}")).fit().validation
    assert found[True]["rougeL"] > 80 > 20 > found[False]["rougeL"], found
