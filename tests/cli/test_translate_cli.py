"""`python -m zoo.translate` from a run directory and from an export, and its bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def trained(tiny_translator) -> Path:
    """The shared tiny translator (tests/conftest.py): run/ and export/."""
    return tiny_translator


@pytest.mark.parametrize(
    "source", ["--model_dir=run", "--saved_model=export/transformer_seq2seq_small/1"]
)
def test_translate_prints_one_line_per_text(run_module, trained, source):
    result = run_module("zoo.translate", source, "--text=a b c d", "--text=f e",
                        "--num_beams=2", cwd=trained)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("\n") == 2  # one line each, even an empty translation


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--model_dir=run", "--text=  "], "non-empty"),
        (["--model_dir=run", "--text=a b c d e f a b c"], "longer than"),
        (["--saved_model=export/transformer_seq2seq_small/1", "--text=a", "--num_beams=12"],
         "num_beams"),
        (["--model_dir=run", "--text=a", "--max_new_tokens=0"], "max_new_tokens"),
    ],
)
def test_translate_bad_input_is_one_line(run_module, trained, args, fragment):
    result = run_module("zoo.translate", *args, cwd=trained)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert fragment in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("source", ["run", "export/transformer_seq2seq_small/1"])
def test_python_api_translates_as_the_command_does(run_module, trained, source):
    import zoo

    flag = "--model_dir" if source == "run" else "--saved_model"
    printed = run_module("zoo.translate", f"{flag}={source}", "--text=a b c d", "--text=f e",
                         "--num_beams=2", cwd=trained)
    translator = zoo.load(trained / source, task="translation")
    assert translator.translate(["a b c d", "f e"], num_beams=2) == \
        printed.stdout.splitlines()
    with pytest.raises(ValueError, match="num_beams"):
        translator.translate("a b", num_beams=0)


def test_keras_fit_teacher_forces_source_target_pairs(trained):
    """Keras' own loop on a text-to-text model: sources as x, targets as y."""
    import zoo

    model = zoo.load(trained / "run").model
    model.compile()
    rng = np.random.default_rng(1)
    sources = [" ".join(rng.choice(list("abcdef"), 4)) for _ in range(64)]
    before = model.evaluate(sources, sources, return_dict=True, verbose=0)
    model.fit(sources, sources, epochs=8, batch_size=16, verbose=0)
    after = model.evaluate(sources, sources, return_dict=True, verbose=0)
    assert after["loss"] < before["loss"], (before, after)
    assert after["accuracy"] > before["accuracy"] + 0.15, (before, after)  # real tokens only
    with pytest.raises(ValueError, match=r"translate\(\)"):
        model.predict(sources[:2], verbose=0)


def test_a_source_far_longer_than_the_model_reads_is_refused_before_tokenizing(trained):
    import zoo

    translator = zoo.load(trained / "export/transformer_seq2seq_small/1")
    with pytest.raises(ValueError, match="more than 128 bytes is longer than the model's 8"):
        translator.translate("a " * 300)
    with pytest.raises(ValueError, match="longer than the model's 8 tokens"):
        translator.translate("a b c d e f a b c")  # 18 bytes, but 9 tokens: counted once tokenized
