"""Session fixtures of the serving tests: the test SavedModels and a folder for server logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_helpers import build_models


@pytest.fixture(scope="session")
def model_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("served")
    build_models(root)
    return root


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")
