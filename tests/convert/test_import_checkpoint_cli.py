"""`python -m zoo.import_checkpoint` on bad input: one line, exit status 2, nothing half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO


def last_line(result) -> str:
    return result.stderr.strip().splitlines()[-1]


def test_bad_sources_are_one_line_errors(run_module, tmp_path):
    missing = run_module("zoo.import_checkpoint", f"--source={tmp_path / 'nope'}",
                         f"--model_dir={tmp_path / 'run'}")
    assert missing.returncode == 2 and "no such folder" in last_line(missing)
    (tmp_path / "empty").mkdir()
    empty = run_module("zoo.import_checkpoint", f"--source={tmp_path / 'empty'}",
                       f"--model_dir={tmp_path / 'run'}")
    assert empty.returncode == 2 and "not a checkpoint the zoo reads" in last_line(empty)
    assert "Traceback" not in empty.stderr
    bad_format = run_module("zoo.import_checkpoint", f"--source={tmp_path / 'empty'}",
                            "--format=pytorch", f"--model_dir={tmp_path / 'run'}")
    assert bad_format.returncode == 2 and "--format" in last_line(bad_format)
    # Offline (HF_HUB_OFFLINE makes it certain and quick), a hub id says it could not download.
    offline = run_module("zoo.import_checkpoint", "--source=hf:openai-community/gpt2",
                         f"--model_dir={tmp_path / 'run'}", env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 2 and "could not download" in last_line(offline)
    assert not (tmp_path / "run").exists()


def test_a_damaged_safetensors_file_is_named(reference_folders, run_module, tmp_path):
    import shutil

    folder = tmp_path / "damaged"
    shutil.copytree(reference_folders["huggingface"], folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    result = run_module("zoo.import_checkpoint", f"--source={folder}",
                        f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "not a readable safetensors file" in last_line(result)
    assert not (tmp_path / "run").exists()


def test_a_kill_mid_import_leaves_no_run_and_the_next_import_succeeds(reference_folders,
                                                                       run_module, tmp_path):
    target = tmp_path / "run"
    building = tmp_path / ".run.importing"
    process = subprocess.Popen(
        [sys.executable, "-m", "zoo.import_checkpoint",
         f"--source={reference_folders['huggingface']}", f"--model_dir={target}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not building.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert building.exists(), "the import never started building"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not target.exists()
    again = run_module("zoo.import_checkpoint", f"--source={reference_folders['huggingface']}",
                       f"--model_dir={target}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert (target / "checkpoints").is_dir() and not building.exists()
