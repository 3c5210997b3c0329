"""A bad flag answers at once: every entry point checks its flags before TensorFlow loads.

Each command line runs in its own interpreter, as `python -m` runs it, with a hook that says at
exit whether TensorFlow was ever imported.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROBE = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('loaded: ' + str('tensorflow' in sys.modules), "
    "file=sys.stderr))\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
)

BAD = [
    ("zoo.train", ["--model=transformer_lm_tine"], "did you mean transformer_lm_tiny?"),
    ("zoo.train", ["--batch_size=abc"], "--batch_size"),
    ("zoo.train", ["--dataset=wikitext3"], "unknown dataset 'wikitext3' for task causal_lm"),
    ("zoo.train", ["--task=question_answering", "--dataset=sst2"], "unknown dataset 'sst2'"),
    ("zoo.train", ["--tokenizer=chars"], "did you mean char?"),
    ("zoo.train", ["--batch_size=0"], "--batch_size"),
    ("zoo.train_ngram", ["--dataset=pbt"], "unknown dataset 'pbt'"),
    ("zoo.train_ngram", ["--tokenizer=wrod"], "did you mean word?"),
    ("zoo.generate", ["--model_dir=nowhere"], "no such run directory"),
    ("zoo.generate", ["--model_dir=nowhere", "--temperature=-1"], "temperature"),
    ("zoo.classify", ["--text=a"], "exactly one"),
    ("zoo.translate", ["--model_dir=nowhere", "--text=a"], "no such run directory"),
    ("zoo.translate", ["--model_dir=nowhere", "--text=a", "--num_beams=0"], "num_beams"),
    ("zoo.summarize", ["--saved_model=nowhere", "--text=a"], "no SavedModel"),
    ("zoo.answer", ["--model_dir=nowhere", "--question=a"], "--context"),
    ("zoo.evaluate", ["--model_dir=nowhere"], "no such run directory"),
    ("zoo.export", ["--model_dir=nowhere"], "no such run directory"),
    ("zoo.export", ["--model_dir=.", "--name=a/b"], "name"),
    ("zoo.serve", ["--model_base_path=.", "--rest_api_num_threads=0"], "rest_api_num_threads"),
    ("zoo.serve", ["--no_such_flag"], "no_such_flag"),
]


def run_probed(module: str, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE, module, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize(("module", "args", "fragment"), BAD,
                         ids=[f"{m} {' '.join(a)}" for m, a, _ in BAD])
def test_a_bad_flag_is_one_line_without_tensorflow(tmp_path, module, args, fragment):
    result = run_probed(module, *args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert lines[-1] == "loaded: False", result.stderr
    assert len(lines) == 2 and fragment in lines[0], result.stderr


@pytest.mark.parametrize("args", [["--list_models"], ["--list_tasks"], ["--help"]])
def test_listings_and_help_need_no_tensorflow(tmp_path, args):
    result = run_probed("zoo.train", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "loaded: False"
    if args == ["--list_models"]:
        assert "transformer_lm_tiny" in result.stdout and "809,856" in result.stdout
    if args == ["--list_tasks"]:
        assert "summarization" in result.stdout
