"""Text classification: a rule learned far above chance, any backbone, labels, errors, EDA."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from tasks import DataSpec, TextClassificationTask
from tasks.data import DataError
from tasks.text_classification.eda import Augmenter
from tests.tasks.harness import run_task_test
from zoo.config import RunConfig
from zoo.runs import load_run, make_trainer

ENCODER = {"num_layers": 1, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64,
           "sequence_length": 24, "dropout": 0.0}
WORDS = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "owl", "pig"]


def rule_examples(count: int, seed: int) -> list[tuple[str, str]]:
    """Texts of 4-12 animals; the label says whether "cat" comes before "dog" in the text."""
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < count:
        words = list(rng.choice(WORDS, size=rng.integers(4, 13)))
        if "cat" in words and "dog" in words and words.index("cat") != words.index("dog"):
            label = "before" if words.index("cat") < words.index("dog") else "after"
            rows.append((" ".join(words), label))
    return rows


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("labelled")
    for split, count, seed in (("train", 3000, 1), ("dev", 300, 2), ("test", 300, 3)):
        lines = [json.dumps({"text": t, "label": y}) for t, y in rule_examples(count, seed)]
        (path / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def classification_config(folder, **changes) -> RunConfig:
    values = dict(
        model="bert_tiny", task="text_classification", data=str(folder), tokenizer="word",
        model_overrides=ENCODER, batch_size=32, train_steps=250, epochs=None, eval_every=250,
        checkpoint_every=250, learning_rate=3e-3, warmup_steps=20, weight_decay=0.0,
    )
    return RunConfig(**{**values, **changes})


def test_an_encoder_learns_an_order_rule_far_above_chance(labelled_folder, tmp_path):
    result = run_task_test(classification_config(labelled_folder), tmp_path)
    assert result.final["accuracy"] > 0.85, result.final  # chance: about 0.5
    assert result.final["macro_f1"] > 0.85
    counts = np.array(result.final["confusion"]["counts"])
    assert counts.sum() == 300 and result.final["confusion"]["labels"] == ["after", "before"]
    assert set(result.signatures) == {"serving_default", "predict", "classify"}
    classified = result.outputs["classify"]
    assert classified["classes"] == ["after", "before"]
    assert sum(classified["scores"][0]) == pytest.approx(1.0, abs=1e-5)
    assert result.outputs["predict"]["labels"][0] in ("after", "before")


def test_an_lstm_fine_tunes_from_a_language_model_run(labelled_folder, tmp_path):
    text = (labelled_folder / "train.jsonl").read_text()
    corpus = tmp_path / "animals.txt"
    corpus.write_text("\n".join(json.loads(line)["text"] for line in text.splitlines()))
    lm = RunConfig(model="lstm_lm_small", data=str(corpus), tokenizer="word", batch_size=8,
                   train_steps=20, epochs=None, eval_every=20, checkpoint_every=20,
                   model_overrides={"hidden_dim": 32, "num_layers": 1, "sequence_length": 10},
                   task_options={"sample_length": 3}, learning_rate=1.0)
    make_trainer(lm, str(tmp_path / "lm")).fit()
    config = classification_config(labelled_folder, model="lstm_lm_small", init_from=str(
        tmp_path / "lm"), model_overrides=lm.model_overrides, learning_rate=0.0,
        lr_schedule="constant", train_steps=2, eval_every=2, checkpoint_every=2)
    trainer = make_trainer(config, str(tmp_path / "classifier"))
    assert trainer.model.pooling == "last"  # a causal backbone is read at its last real token
    pretrained = load_run(str(tmp_path / "lm")).model.backbone.get_weights()
    for ours, theirs in zip(trainer.model.backbone.get_weights(), pretrained, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    trainer.fit()


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("a cat", "x")] * 20, "at least two classes"),
        ([("a cat", "x"), ("a dog", "y")] * 10 + [("an eel", "z")], "not one of the training"),
    ],
)
def test_bad_labels_are_one_line_errors(tmp_path, rows, message):
    (tmp_path / "train.tsv").write_text("".join(f"{t}\t{y}\n" for t, y in rows[:20]))
    (tmp_path / "dev.tsv").write_text("".join(f"{t}\t{y}\n" for t, y in rows[20:] or rows[:2]))
    with pytest.raises(DataError, match=message):
        task = TextClassificationTask.create(DataSpec(str(tmp_path), "word", 16), {})
        task.causal = True
        task.split("validation")


def test_labels_sort_numerically_and_save_with_the_run(tmp_path):
    rows = [(f"text {i}", str(label)) for i, label in enumerate([10, 2, 1] * 10)]
    (tmp_path / "train.tsv").write_text("".join(f"{t}\t{y}\n" for t, y in rows))
    task = TextClassificationTask.create(DataSpec(str(tmp_path / "train.tsv"), "word", 16), {})
    assert task.labels == ["1", "2", "10"]
    task.save(str(tmp_path / "run"))
    (tmp_path / "train.tsv").unlink()  # a saved run needs its data no more
    again = TextClassificationTask.create(DataSpec(str(tmp_path / "train.tsv"), "word", 16), {},
                                          run_dir=str(tmp_path / "run"))
    assert again.labels == ["1", "2", "10"]


def test_head_and_tail_keeps_both_ends_of_a_long_text(tmp_path):
    words = [f"w{i}" for i in range(40)]
    rows = [(" ".join(words), "long"), ("w0 w1", "short")] * 5
    (tmp_path / "train.tsv").write_text("".join(f"{t}\t{y}\n" for t, y in rows))
    spec = DataSpec(str(tmp_path / "train.tsv"), "word", 16)
    tokens = {}
    for cut in ("head", "head_tail"):
        task = TextClassificationTask.create(spec, {"truncation": cut})
        task.causal, task.wrap = False, True  # an encoder's [CLS] text [SEP]
        ids, mask = task.tokenize(tf.constant([" ".join(words), "w0 w1"]))
        vocabulary = task.tokenizer
        tokens[cut] = [vocabulary.decode(row[1:int(m.sum()) - 1]).split()
                       for row, m in zip(ids.numpy(), mask.numpy())]
    # 14 of the 16 places are text: the first 14 words, or the first 3 and the last 11.
    assert tokens["head"][0] == words[:14]
    assert tokens["head_tail"][0] == words[:3] + words[-11:]
    assert tokens["head"][1] == tokens["head_tail"][1] == ["w0", "w1"]
    with pytest.raises(DataError, match="truncation must be one of head, head_tail"):
        TextClassificationTask.create(spec, {"truncation": "middle"})


def test_eda_keeps_labels_text_only_and_is_keyed_by_step():
    augment = Augmenter(0.3, {"cat": ["kitten"], "dog": ["hound", "puppy"]})
    texts = tf.constant(["the cat saw the dog by the old barn today"] * 64)
    first, again = augment(texts, tf.constant([5, 9])), augment(texts, tf.constant([5, 9]))
    assert first.numpy().tolist() == again.numpy().tolist()
    other = augment(texts, tf.constant([5, 10]))
    assert first.numpy().tolist() != other.numpy().tolist()
    outputs = {t.decode() for t in first.numpy()}
    assert len(outputs) > 8  # the four operations give many variants
    assert any("kitten" in t or "hound" in t or "puppy" in t for t in outputs)
    assert all(t.strip() for t in outputs)


def test_init_from_another_kind_of_backbone_is_a_clear_error(labelled_folder, tmp_path):
    text = tmp_path / "animals.txt"
    text.write_text(" ".join(WORDS * 200))
    lm = RunConfig(model="lstm_lm_small", data=str(text), tokenizer="word", batch_size=4,
                   train_steps=2, epochs=None, eval_every=2, checkpoint_every=2, eval_batches=1,
                   model_overrides={"hidden_dim": 16, "num_layers": 1, "sequence_length": 8},
                   task_options={"sample_length": 2})
    make_trainer(lm, str(tmp_path / "lstm")).fit()
    config = classification_config(labelled_folder, init_from=str(tmp_path / "lstm"))
    with pytest.raises(DataError, match="no weight|tokenizer has no"):
        make_trainer(config, str(tmp_path / "bert"))
