"""Shared test setup: the data folder, a quiet TensorFlow, and subprocess helpers for the CLIs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
