"""Shared test setup: the data folder, a quiet TensorFlow, and subprocess helpers for the CLIs."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if "ZOO_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data").is_dir():
    os.environ["ZOO_DATA_DIR"] = str(REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real corpora (../shared/data or $ZOO_DATA_DIR); tests needing them skip without it."""
    path = os.environ.get("ZOO_DATA_DIR")
    if not path or not Path(path).is_dir():
        pytest.skip("no corpora: set ZOO_DATA_DIR to a folder holding them (README, Data: "
                    "each named dataset's files, e.g. sst2/{train,dev}.tsv, and where they "
                    "come from)")
    return Path(path)


def _run_module(module: str, *args: str, cwd: Path | None = None, env: dict | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs `python -m <module> <args>` the way a user would, capturing its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def run_module():
    """`run_module("zoo.train", "--flag", cwd=tmp_path)` -> CompletedProcess."""
    return _run_module


# ----------------------------------------------------------------------------- shared runs
# Tiny runs several test files use (a command's tests and a server's), trained and exported
# once per pytest run however many workers ask. Tests read them and may add files of their
# own; none changes what is there.


def once_per_run(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder `build(folder)` filled once per pytest run, shared by every xdist worker (the
    first to ask builds it under a file lock; the others wait, then read it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the folder all workers' temporary folders live in
    folder = root / "shared" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (folder / ".built").exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                build(folder)
                (folder / ".built").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


def _train(work: Path, *flags: str) -> None:
    """`python -m zoo.train <flags>` into work/run, exported into work/export."""
    result = _run_module("zoo.train", *flags, "--model_dir=run", "--export_dir=export", cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]


SEQ2SEQ_TINY = ("--model=transformer_seq2seq_small", "--tokenizer=word", "--set=num_layers=1",
                "--set=hidden_dim=32", "--set=intermediate_dim=64", "--train_steps=10",
                "--eval_batches=1")


@pytest.fixture(scope="session")
def tiny_summarizer(tmp_path_factory) -> Path:
    """A 10-step summarizer (its first three words, of 10) in run/ and exported in export/
    (2 beams by default), with email.txt and a Latin-1 file beside them."""
    def build(work: Path) -> None:
        rng = np.random.default_rng(0)
        rows = [list(rng.choice(list("abcdefgh"), 10)) for _ in range(300)]
        (work / "pairs.tsv").write_text("".join(f"{' '.join(r)}\t{' '.join(r[:3])}\n"
                                                for r in rows))
        (work / "email.txt").write_text("a b c d\ne f g h\n")
        (work / "latin1.txt").write_bytes(b"caf\xe9")
        _train(work, *SEQ2SEQ_TINY, "--task=summarization", f"--data={work / 'pairs.tsv'}",
               "--set=sequence_length=12", "--set=max_target_tokens=6", "--set=num_beams=2",
               "--set=rouge_examples=5")

    return once_per_run(tmp_path_factory, "summarizer", build)


@pytest.fixture(scope="session")
def tiny_translator(tmp_path_factory) -> Path:
    """A 10-step translator that learns to copy 4 of 6 letters, in run/ and export/."""
    def build(work: Path) -> None:
        rng = np.random.default_rng(0)
        rows = [" ".join(rng.choice(list("abcdef"), 4)) for _ in range(300)]
        (work / "pairs.tsv").write_text("".join(f"{r}\t{r}\n" for r in rows))
        _train(work, *SEQ2SEQ_TINY, f"--data={work / 'pairs.tsv'}", "--set=sequence_length=8",
               "--set=num_beams=2", "--set=bleu_examples=5")

    return once_per_run(tmp_path_factory, "translator", build)


QA_CONTEXT = "ant is 12 . bee is 31 . cat is 47 . Zoë is 55 ."


@pytest.fixture(scope="session")
def tiny_answerer(tmp_path_factory) -> Path:
    """A 10-step question answerer on synthetic facts, in run/ and export/, with a
    questions.jsonl beside them."""
    from tests.tasks.squad_facts import write_facts

    def build(work: Path) -> None:
        write_facts(work, train_articles=4, dev_articles=1, paragraphs=10)
        _train(work, "--model=bert_tiny", "--task=question_answering", f"--data={work}",
               "--tokenizer=word", "--set=num_layers=1", "--set=hidden_dim=32",
               "--set=intermediate_dim=64", "--set=sequence_length=32",
               "--set=max_question_tokens=6", "--set=doc_stride=12", "--train_steps=10",
               "--eval_batches=1")
        (work / "questions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in [
            {"id": "q1", "question": "what is cat ?", "context": QA_CONTEXT},
            {"question": "what is Zoë ?", "context": QA_CONTEXT},
        ]), encoding="utf-8")

    return once_per_run(tmp_path_factory, "answerer", build)


# Files whose fixtures train and export several models (minutes each on 2 cores), in the order
# they start: a worker that began one of them last would leave the others idle at the end.
HEAVY_FIRST = (
    "tests/tasks/test_summarization.py",
    "tests/serving/test_serving_summarization.py",
    "tests/cli/test_train_cli.py",
    "tests/cli/test_summarize_cli.py",
    "tests/tasks/test_translation.py",
    "tests/zoo/test_python_api.py",
    "tests/serving/test_serving_translation.py",
    "tests/convert/test_gpt2_end_to_end.py",
    "tests/serving/test_serving_export.py",
    "tests/zoo/test_trainer.py",
    "tests/cli/test_answer_cli.py",
    "tests/cli/test_translate_cli.py",
    "tests/convert/test_bert_import.py",
)


def pytest_collection_modifyitems(config, items):
    """Heaviest files first (stable otherwise), so parallel workers finish together."""
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: a worker per core, at most four (each holds TensorFlow and its models)."""
    return max(1, min(os.cpu_count() or 1, 4))
