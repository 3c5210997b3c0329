"""`python -m zoo.classify` and bad classification input, as a user meets them."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_CLASSIFIER = [
    "--model=bert_tiny", "--task=text_classification", "--tokenizer=word",
    "--set=num_layers=1", "--set=hidden_dim=32", "--set=intermediate_dim=64",
    "--set=sequence_length=16", "--train_steps=30", "--learning_rate=3e-3",
]


@pytest.fixture(scope="module")
def trained(run_module, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("classify")
    data = work / "reviews.tsv"
    data.write_text("text\tlabel\n" + "".join(
        f"{'good fine' if i % 2 else 'bad poor'} film {i}\t{'pos' if i % 2 else 'neg'}\n"
        for i in range(300)))
    result = run_module("zoo.train", *TINY_CLASSIFIER, f"--data={data}", "--model_dir=run",
                        "--export_dir=export", cwd=work)
    assert result.returncode == 0, result.stderr[-2000:]
    return work


@pytest.mark.parametrize("source", ["--model_dir=run", "--saved_model=export/bert_tiny/1"])
def test_classify_prints_a_label_per_text(run_module, trained, source):
    result = run_module("zoo.classify", source, "--text=good fine film", "--text=bad poor film",
                        cwd=trained)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["pos", "neg"]
    assert "neg 0." in lines[0] and "pos 0." in lines[0]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--model_dir=run", "--text="], "non-empty"),
        (["--model_dir=nowhere", "--text=a"], "nowhere"),
        (["--text=a"], "exactly one"),
    ],
)
def test_classify_bad_input_is_one_line(run_module, trained, args, fragment):
    result = run_module("zoo.classify", *args, cwd=trained)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert fragment in result.stderr.strip().splitlines()[-1]


def test_training_on_a_missing_label_column_is_one_line(run_module, trained):
    result = run_module("zoo.train", *TINY_CLASSIFIER, f"--data={trained / 'reviews.tsv'}",
                        "--set=label_column=rating", "--model_dir=bad", cwd=trained)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no label column named 'rating'" in result.stderr


@pytest.mark.parametrize("source", ["run", "export/bert_tiny/1"])
def test_python_api_classifies_as_the_command_does(run_module, trained, source):
    import zoo

    texts = ["good fine film", "bad poor film"]
    flag = "--model_dir" if source == "run" else "--saved_model"
    printed = run_module("zoo.classify", f"{flag}={source}", *(f"--text={t}" for t in texts),
                         cwd=trained).stdout.strip().splitlines()
    classifier = zoo.load(trained / source)
    assert isinstance(classifier, zoo.TextClassifier)
    found = classifier.classify(texts)
    assert [c.label for c in found] == ["pos", "neg"]
    for line, text, c in zip(printed, texts, found, strict=True):
        shown = "  ".join(f"{label} {p:.3f}" for label, p in c.probabilities.items())
        assert line == f"{c.label}\t{text}\t({shown})"
    alone = classifier.classify("good fine film")  # a batch of one pads differently: ~1e-8
    assert alone.label == found[0].label
    assert alone.probabilities == pytest.approx(found[0].probabilities, abs=1e-6)
    assert sorted(classifier.labels) == ["neg", "pos"]


def test_the_export_bounds_a_request_by_its_bytes_and_counts_tokens_as_tokens(trained):
    """110 kB of text is ~20,000 tokens, within the 65,536 allowed (it was refused when bytes
    were counted as tokens); over 16 bytes per allowed token is refused before tokenizing."""
    import zoo

    classifier = zoo.load(trained / "export/bert_tiny/1")
    assert classifier.classify("good fine film " * 7500).label in ("pos", "neg")
    with pytest.raises(ValueError, match="at most 1048576 bytes per request"):
        classifier.classify("x" * (1 << 20) + "y")
