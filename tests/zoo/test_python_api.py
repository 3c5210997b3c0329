"""The zoo from Python (README "From Python"): `zoo.fit` trains the run `python -m zoo.train`
trains, and its pipeline evaluates, exports and generates as the commands do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zoo

TINY = dict(dataset="synthetic", train_steps=30, eval_batches=4, batch_size=8)
OPTIONS = dict(num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64,
               sequence_length=16)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    work = tmp_path_factory.mktemp("fit")
    return zoo.fit(model_dir=str(work / "run"), options=OPTIONS, **TINY)


def test_fit_trains_what_the_command_trains(fitted, run_module, tmp_path):
    flags = [f"--{k}={v}" for k, v in TINY.items()] + [f"--set={k}={v}" for k, v in
                                                       OPTIONS.items()]
    result = run_module("zoo.train", *flags, "--model_dir=run", "--export_dir=", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    command = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert isinstance(fitted, zoo.LanguageModel) and fitted.run.step == 30
    assert fitted.metrics["validation"]["loss"] == pytest.approx(
        command["validation"]["loss"], rel=1e-5)
    assert fitted.metrics["validation"]["loss"] < 0.8 * 5.55  # ln(256): it learned
    greedy = dict(max_new_tokens=12, temperature=0)
    assert fitted.generate("ab", **greedy) == zoo.load(tmp_path / "run").generate("ab", **greedy)


def test_a_fitted_run_evaluates_and_exports(fitted, tmp_path):
    metrics = fitted.evaluate("test", max_batches=2)
    assert metrics["loss"] > 0 and metrics["perplexity"] > 1
    recorded = json.loads((Path(fitted.path) / "eval_test.json").read_text())
    assert recorded["loss"] == metrics["loss"] and recorded["step"] == 30
    export = zoo.load(fitted.export(str(tmp_path / "saved_models")))
    assert export.is_export and fitted.export_path.endswith("/1")
    greedy = dict(max_new_tokens=8, temperature=0)
    assert export.generate(["ab", "ba"], **greedy) == fitted.generate(["ab", "ba"], **greedy)
    with pytest.raises(ValueError, match="is an export"):
        export.evaluate()


@pytest.mark.parametrize(
    "settings, fragment",
    [
        (dict(model="transformer_lm_tine"), "transformer_lm_tine"),
        (dict(batch_sise=8), "batch_sise"),
        (dict(options={"num_layerz": 1}), "num_layerz"),
        (dict(dataset="no_such_corpus"), "no_such_corpus"),
    ],
)
def test_fit_refuses_bad_settings_by_name(settings, fragment, tmp_path):
    with pytest.raises(ValueError, match=fragment):
        zoo.fit(model_dir=str(tmp_path / "run"), **settings)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def reviews(count: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts whose label is the word "good" or "bad" among filler words."""
    rng = np.random.default_rng(seed)
    filler = ["film", "plot", "actor", "scene", "music", "story", "ending", "cast"]
    texts, labels = [], []
    for _ in range(count):
        label = rng.choice(["pos", "neg"])
        words = list(rng.choice(filler, 5)) + ["good" if label == "pos" else "bad"]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(str(label))
    return texts, labels


def test_keras_fit_improves_a_classifier_loaded_from_its_run(tmp_path):
    """README "From Python": compile() with the task's defaults, fit on strings, predict."""
    texts, labels = reviews(400, seed=0)
    (tmp_path / "reviews.tsv").write_text(
        "text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)))
    classifier = zoo.fit(
        model="bert_tiny", task="text_classification", data=str(tmp_path / "reviews.tsv"),
        tokenizer="word", train_steps=1, batch_size=8, model_dir=str(tmp_path / "run"),
        options=dict(num_layers=1, hidden_dim=32, intermediate_dim=64, sequence_length=16))
    dev_texts, dev_labels = reviews(200, seed=1)
    model = classifier.model
    model.compile()
    before = model.evaluate(dev_texts, dev_labels, return_dict=True, verbose=0)["accuracy"]
    model.fit(texts, labels, epochs=6, batch_size=16, verbose=0)
    after = model.evaluate(dev_texts, dev_labels, return_dict=True, verbose=0)["accuracy"]
    assert before < 0.75 and after > 0.95, (before, after)
    logits = model.predict(["good film plot"], verbose=0)
    assert logits.shape == (1, 2)
    assert classifier.classify("bad film plot").label == "neg"  # the pipeline's model learned
    ids = [classifier.labels.index(y) for y in labels]
    model.fit(texts, ids, epochs=1, verbose=0)  # label ids work as well as names
    with pytest.raises(Exception, match="not one of"):
        model.fit(["good film"], ["maybe"], verbose=0)


def test_keras_fit_trains_a_language_model_on_texts(fitted):
    """The causal LM's Keras loop: texts alone, loss over their real tokens."""
    lm = zoo.load(fitted.path)  # a fresh copy: the module's run stays as trained
    model = lm.model
    model.compile()
    texts = ["abcabcabcabc", "cabcabcab"] * 16
    before = model.evaluate(texts, return_dict=True, verbose=0)["loss"]
    model.fit(texts, epochs=25, batch_size=8, verbose=0)
    after = model.evaluate(texts, return_dict=True, verbose=0)["loss"]
    assert after < 0.7 * before, (before, after)
    assert model.predict(["abc"], verbose=0).shape[:2] == (1, 16)


def readme_block(heading: str, number: int = 0) -> str:
    """The `number`-th python code block under the README's `heading`."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n")[number + 1].split("```", 1)[0]


@pytest.mark.slow  # its calls are each checked against their commands above (CI runs it)
def test_the_readme_from_python_block_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_block("From Python"), "README.md", "exec"), {})  # noqa: S102
    printed = capsys.readouterr().out
    assert "ROMEO:" in printed and (tmp_path / "runs" / "from-python" / "summary.json").is_file()
    assert (tmp_path / "saved_models" / "transformer_lm_tiny" / "1" / "saved_model.pb").is_file()


def test_fine_tuning_keeps_and_records_the_pretrained_tokenizer(fitted, tmp_path):
    pretrained = json.loads((Path(fitted.path) / "config.json").read_text())
    other = "word" if pretrained["tokenizer"] != "word" else "char"
    with pytest.raises(ValueError, match=f"--tokenizer={other}: the --init_from run reads"):
        zoo.fit(init_from=fitted.path, tokenizer=other, model_dir=str(tmp_path / "no"),
                options=OPTIONS, **TINY)
    assert not (tmp_path / "no").exists()
    tuned = zoo.fit(init_from=fitted.path, model_dir=str(tmp_path / "tuned"), options=OPTIONS,
                    **{**TINY, "train_steps": 2})
    recorded = json.loads((Path(tuned.path) / "config.json").read_text())
    assert recorded["tokenizer"] == pretrained["tokenizer"]
    assert tuned.tokenizer.vocab_size == fitted.tokenizer.vocab_size
