"""`python -m zoo.summarize` from a run directory and from an export, and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXPORT = "--saved_model=export/transformer_seq2seq_small/1"


@pytest.fixture(scope="module")
def trained(tiny_summarizer) -> Path:
    """The shared tiny summarizer (tests/conftest.py): run/, export/, email.txt, latin1.txt."""
    assert (tiny_summarizer / "run" / "predictions.jsonl").is_file()
    return tiny_summarizer


@pytest.mark.parametrize("source", ["--model_dir=run", EXPORT])
def test_summarize_prints_one_line_per_text_and_file(run_module, trained, source):
    long = " ".join(["a b c d e f g h"] * 10)  # 80 words for a 12-token model: cut, not refused
    result = run_module("zoo.summarize", source, "--text=a b c d e f g h", f"--text={long}",
                        "--file=email.txt", "--num_beams=2", "--no_repeat_ngram_size=1",
                        cwd=trained)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("\n") == 3  # one line each, even an empty summary


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--model_dir=run"], "non-empty"),
        (["--model_dir=run", "--file=missing.txt"], "cannot read"),
        (["--model_dir=run", "--file=latin1.txt"], "not UTF-8"),
        ([EXPORT, "--text=a", "--num_beams=5"], "num_beams"),
        ([EXPORT, "--text=a", "--no_repeat_ngram_size=7"], "no_repeat_ngram_size"),
        (["--saved_model=export/transformer_seq2seq_small", "--text=a"], "no SavedModel"),
    ],
)
def test_summarize_bad_input_is_one_line(run_module, trained, args, fragment):
    result = run_module("zoo.summarize", *args, cwd=trained)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert fragment in result.stderr.strip().splitlines()[-1]


def test_evaluate_reports_rouge_and_writes_the_predictions(run_module, trained):
    result = run_module("zoo.evaluate", "--model_dir=run", "--split=test", cwd=trained)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads((trained / "run" / "eval_test.json").read_text())
    assert 0 <= figures["rougeL"] <= 100 and "Porter stemmer on" in figures["rouge"]
    assert "rougeL" in result.stdout
    lines = (trained / "run" / "predictions_test.jsonl").read_text().splitlines()
    assert set(json.loads(lines[0])) == {"id", "prediction", "references"}


# The run only: an export goes through the same TextToText pipeline code as a translator's,
# which test_translate_cli.py checks against its command (loading this export twice costs 85 s).
@pytest.mark.parametrize("source", ["run"])
def test_python_api_summarizes_as_the_command_does(run_module, trained, source):
    import zoo

    flag = "--model_dir" if source == "run" else "--saved_model"
    texts = ["a b c d e f g h", "h g f e d c b a"]
    printed = run_module("zoo.summarize", f"{flag}={source}", *(f"--text={t}" for t in texts),
                         "--num_beams=2", cwd=trained)
    summarizer = zoo.load(trained / source)
    assert isinstance(summarizer, zoo.Summarizer)
    assert summarizer.summarize(texts, num_beams=2) == printed.stdout.splitlines()
