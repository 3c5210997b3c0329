"""`python -m zoo.generate` as a user runs it: from a run directory, from an export, bad input."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

TINY_RUN = [
    "--dataset=synthetic",
    "--set=num_layers=1",
    "--set=hidden_dim=32",
    "--set=num_heads=2",
    "--set=intermediate_dim=64",
    "--set=sequence_length=16",
    "--train_steps=5",
    "--eval_batches=2",
]
# Two prompts, two samples each, with a stop text: sample i of a prompt draws with seed 3 + i.
SAMPLING = [
    "--prompt=abc",
    "--prompt=h",
    "--num_samples=2",
    "--max_new_tokens=24",
    "--temperature=1",
    "--top_k=5",
    "--seed=3",
    "--stop=c",
]


@pytest.fixture(scope="module")
def run_dir(run_module, tmp_path_factory) -> Path:
    """A 5-step transformer run on the synthetic source (any export lands beside it)."""
    work = tmp_path_factory.mktemp("generate")
    result = run_module("zoo.train", *TINY_RUN, "--model_dir=run", cwd=work)
    assert result.returncode == 0, result.stderr
    return work / "run"


@pytest.fixture(scope="module")
def samples_from_run(run_module, run_dir) -> str:
    result = run_module("zoo.generate", f"--model_dir={run_dir}", *SAMPLING)
    assert result.returncode == 0, result.stderr
    return result.stdout


def parse(stdout: str) -> list[tuple[str, str]]:
    """[(header, text)] from the `--- prompt p, sample i ---` blocks."""
    blocks = stdout.split("--- prompt ")[1:]
    return [tuple(block.rstrip("\n").split(" ---\n", 1)) for block in blocks]


def test_generates_every_sample_of_every_prompt(samples_from_run):
    blocks = parse(samples_from_run)
    assert [header for header, _ in blocks] == [
        "1, sample 1",
        "1, sample 2",
        "2, sample 1",
        "2, sample 2",
    ]
    texts = [text for _, text in blocks]
    for prompt, text in zip(["abc", "abc", "h", "h"], texts):
        assert text.startswith(prompt)
        continuation = text[len(prompt) :]
        assert 0 < len(continuation) <= 24
        assert "c" not in continuation[:-1]  # generation ends at the first stop text
    assert texts[0] != texts[1]  # different seeds


def test_saved_model_gives_the_same_samples(run_module, run_dir, samples_from_run):
    if importlib.util.find_spec("zoo.export") is None:
        pytest.skip("zoo.export is not written yet")
    exports = sorted(run_dir.parent.glob("saved_models/*/*/saved_model.pb"))
    if not exports:  # zoo.train did not export: do it here
        result = run_module(
            "zoo.export", f"--model_dir={run_dir}", f"--export_dir={run_dir.parent / 'out'}"
        )
        assert result.returncode == 0, result.stderr
        exports = sorted(run_dir.parent.glob("out/*/*/saved_model.pb"))
    result = run_module("zoo.generate", f"--saved_model={exports[-1].parent}", *SAMPLING)
    assert result.returncode == 0, result.stderr
    assert result.stdout == samples_from_run


def test_jit_compile_generates_the_same_greedy_text(run_module, run_dir):
    greedy = ["--prompt=abc", "--max_new_tokens=40", "--temperature=0"]  # 3 + 40 > 16: slides
    plain = run_module("zoo.generate", f"--model_dir={run_dir}", *greedy)
    compiled = run_module("zoo.generate", f"--model_dir={run_dir}", *greedy, "--jit_compile")
    assert plain.returncode == 0 and compiled.returncode == 0, plain.stderr + compiled.stderr
    assert compiled.stdout == plain.stdout


def assert_clean_failure(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("zoo.generate: error:"), result.stderr
    for fragment in fragments:
        assert fragment in last_line, result.stderr


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--model_dir=/no/such/run"], ["/no/such/run"]),
        (["--saved_model=.", "--temperature=-1"], ["temperature"]),
        (["--saved_model=.", "--jit_compile"], ["--jit_compile"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_module, tmp_path, args, fragments):
    assert_clean_failure(run_module("zoo.generate", *args, cwd=tmp_path), *fragments)


# ------------------------------------------------------------------ the same from Python


def test_python_api_generates_what_the_command_prints(run_dir, samples_from_run):
    """`zoo.load(run).generate(...)` in this process equals `python -m zoo.generate`."""
    import zoo

    lm = zoo.load(run_dir)
    assert isinstance(lm, zoo.LanguageModel) and not lm.is_export
    texts = lm.generate(["abc", "abc", "h", "h"], max_new_tokens=24, temperature=1, top_k=5,
                        seed=[3, 4, 3, 4], stop=["c"])
    assert texts == [text for _, text in parse(samples_from_run)]
    assert lm.generate("abc", max_new_tokens=24, temperature=1, top_k=5, seed=3,
                       stop="c") == texts[0]


def test_python_api_scores_a_run_as_its_export_does(run_module, run_dir):
    import zoo

    out = run_dir.parent / "api_export"
    result = run_module("zoo.export", f"--model_dir={run_dir}", f"--export_dir={out}")
    assert result.returncode == 0, result.stderr
    export = zoo.load(next(out.glob("*/1")))
    assert export.is_export and isinstance(export, zoo.LanguageModel)
    run = zoo.load(run_dir)
    texts = ["abcabc", "hello there"]
    from_run, from_export = run.score(texts), export.score(texts)
    assert [s["num_tokens"] for s in from_run] == [5, 10]
    for a, b in zip(from_run, from_export):
        assert a["log_likelihood"] < 0
        assert abs(a["log_likelihood"] - b["log_likelihood"]) < 1e-4
    greedy = dict(max_new_tokens=10, temperature=0)
    assert export.generate(texts, **greedy) == run.generate(texts, **greedy)


@pytest.mark.parametrize(
    "call, error, fragment",
    [
        (lambda lm: lm.generate(42), TypeError, "prompts"),
        (lambda lm: lm.generate([]), ValueError, "prompts"),
        (lambda lm: lm.generate(["a", " "]), ValueError, "non-empty"),
        (lambda lm: lm.generate("a", temperature=-1), ValueError, "temperature"),
        (lambda lm: lm.generate(["a", "b"], seed=[1, 2, 3]), ValueError, "seed"),
        (lambda lm: lm.score([b"bytes"]), TypeError, "texts"),
    ],
)
def test_python_api_refuses_bad_arguments_by_name(run_dir, call, error, fragment):
    import zoo

    with pytest.raises(error, match=fragment):
        call(zoo.load(run_dir))


def test_python_api_load_refuses_what_is_not_a_model(tmp_path, run_dir):
    import zoo

    with pytest.raises(ValueError, match="no such"):
        zoo.load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="not a run directory"):
        zoo.load(tmp_path)
    with pytest.raises(ValueError, match="not a translation one"):
        zoo.load(run_dir, task="translation")
