"""`python -m zoo.train` as a user runs it: distribution, kill -9 and resume, bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# One tiny model on the synthetic source keeps every run to seconds after TensorFlow's import.
TINY = [
    "--dataset=synthetic", "--set=num_layers=1", "--set=num_heads=2", "--set=hidden_dim=32",
    "--set=intermediate_dim=64", "--set=sequence_length=16", "--eval_batches=4",
    "--export_dir=",  # exporting is tested in tests/export
]


def last_record(run_dir: Path) -> dict:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


def assert_clean_failure(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert len(last_line) < 600


# What TensorFlow's C++ start-up writes to stderr; none of it may reach a zoo user.
STARTUP_NOISE = ("I0000", "W0000", "E0000", "absl::InitializeLog", "cuInit", "oneDNN")


def assert_clean_start(result: subprocess.CompletedProcess) -> None:
    for noise in STARTUP_NOISE:
        assert noise not in result.stderr + result.stdout, result.stderr


def test_list_models(run_module, tmp_path):
    result = run_module("zoo.train", "--list_models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_clean_start(result)
    assert "transformer_lm_tiny" in result.stdout and "lstm_lm_large" in result.stdout
    assert "124," in result.stdout  # gpt2_small has about 124M parameters
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:-1]}
    assert rows["transformer_lm_tiny"][2] == "causal_lm"  # each preset's task


def test_list_tasks(run_module, tmp_path):
    result = run_module("zoo.train", "--list_tasks", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("causal_lm ")


def test_mirrored_matches_single_device(run_module, tmp_path):
    common = [*TINY, "--train_steps=12", "--batch_size=8", "--eval_every=12", "--log_every=4"]
    single = run_module("zoo.train", *common, f"--model_dir={tmp_path/'one'}",
                        "--strategy=default", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    mirrored = run_module("zoo.train", *common, f"--model_dir={tmp_path/'two'}",
                          "--strategy=mirrored", "--cpu_devices=2", cwd=tmp_path)
    assert mirrored.returncode == 0, mirrored.stderr
    a, b = last_record(tmp_path / "one"), last_record(tmp_path / "two")
    assert_clean_start(single)
    assert_clean_start(mirrored)
    assert a["step"] == b["step"] == 12
    assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
    assert b["validation"]["loss"] == pytest.approx(a["validation"]["loss"], rel=1e-3)
    assert list((tmp_path / "two" / "checkpoints").glob("ckpt-12.index"))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_process_multi_worker(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    args = [*TINY, "--train_steps=8", "--batch_size=8", "--eval_every=8", "--log_every=4",
            "--strategy=multi_worker_mirrored", f"--model_dir={tmp_path/'run'}"]
    procs = []
    for index in range(2):
        env = {**os.environ,
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "zoo.train", *args], env=env, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=400) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    run = tmp_path / "run"
    assert last_record(run)["step"] == 8
    assert (run / "checkpoints" / "ckpt-8.index").is_file()
    assert (run / "summary.json").is_file()
    assert not any((run / ".workers").glob("*/checkpoints")), "non-chief copies are removed"


def test_kill_9_then_same_command_resumes(run_module, tmp_path):
    args = [*TINY, "--train_steps=60", "--batch_size=8", "--eval_every=60",
            "--checkpoint_every=10", "--log_every=10", "--set=dropout=0.1"]
    straight = run_module("zoo.train", *args, "--model_dir=straight", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr

    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "zoo.train", *args], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if list(work.glob("runs/*/checkpoints/ckpt-20.index")):
                break
            assert proc.poll() is None, "training ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint appeared")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    run_dir = next((work / "runs").iterdir())
    assert not (run_dir / "summary.json").exists()

    resumed = run_module("zoo.train", *args, cwd=work)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming" in resumed.stdout
    assert [p.name for p in (work / "runs").iterdir()] == [run_dir.name]
    done = json.loads((run_dir / "summary.json").read_text())
    reference = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert done["step"] == reference["step"] == 60
    assert done["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-4)
    assert done["validation"]["loss"] == pytest.approx(reference["validation"]["loss"], rel=1e-4)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--model=transformer_lm_huge"], ["transformer_lm_huge"]),
        (["--dataset=imagenet"], ["imagenet"]),
        (["--strategy=tpu_pod"], ["tpu_pod"]),
        (["--set=num_layerz=2"], ["num_layerz"]),
        (["--set=num_layers"], ["key=value"]),
        (["--task=sorting"], ["sorting"]),
        (["--init_from=/no/such/run"], ["/no/such/run"]),
        (["--data=/no/such/file.txt"], ["/no/such/file.txt"]),
        (["--config=/no/such/config.yaml"], ["/no/such/config.yaml"]),
    ],
)
def test_bad_input_is_one_line_and_nonzero(run_module, tmp_path, args, fragments):
    assert_clean_failure(run_module("zoo.train", *args, cwd=tmp_path), *fragments)


def test_bad_files_are_one_line_and_nonzero(run_module, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_clean_failure(run_module("zoo.train", f"--data={empty}", cwd=tmp_path), "empty")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 au lait ".encode("latin-1") * 100)
    assert_clean_failure(run_module("zoo.train", f"--data={latin1}", cwd=tmp_path), "UTF-8")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_evaluate_reports_the_test_split(run_module, tmp_path):
    trained = run_module("zoo.train", *TINY, "--train_steps=6", "--batch_size=4",
                         "--model_dir=run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = run_module("zoo.evaluate", "--model_dir=run", "--split=test", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "run" / "eval_test.json").read_text())
    assert record["step"] == 6 and record["split"] == "test"
    assert 1.0 < record["perplexity"] < 40.0
    assert "perplexity" in result.stdout
    missing = run_module("zoo.evaluate", "--model_dir=nowhere", cwd=tmp_path)
    assert_clean_failure(missing, "nowhere")


def test_ngram_preset_counts_and_evaluates(run_module, tmp_path):
    result = run_module("zoo.train", "--model=ngram_lm", "--dataset=synthetic",
                        "--tokenizer=char", "--set=order=3", "--model_dir=ngram",
                        "--export_dir=", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    evaluated = run_module("zoo.evaluate", "--model_dir=ngram", "--split=test", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    record = json.loads((tmp_path / "ngram" / "eval_test.json").read_text())
    summary = json.loads((tmp_path / "ngram" / "summary.json").read_text())
    assert record["perplexity"] == pytest.approx(summary["test"]["perplexity"], rel=1e-6)


def test_a_log_file_gets_a_line_every_five_percent_and_at_each_evaluation(run_module, tmp_path):
    args = [*TINY, "--train_steps=100", "--batch_size=4", "--eval_every=50"]
    quiet = run_module("zoo.train", *args, "--model_dir=quiet", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stdout.splitlines()
    progress = [line for line in lines if line.startswith("step ") and "tok/s" in line]
    evaluations = [line for line in lines if line.startswith("step ") and "validation" in line]
    assert [line.split()[1] for line in progress] == [f"{s}/100" for s in range(5, 101, 5)]
    assert "ETA" in progress[0]
    assert [line.split()[1] for line in evaluations] == ["50/100", "100/100"]
    assert "perplexity" in evaluations[0]

    chatty = run_module("zoo.train", *args, "--log_every=25", "--model_dir=chatty", cwd=tmp_path)
    progress = [line for line in chatty.stdout.splitlines() if "tok/s" in line]
    assert [line.split()[1] for line in progress] == ["25/100", "50/100", "75/100", "100/100"]


def test_the_time_line_is_the_whole_process(tmp_path):
    # The last line says where the time went, start-up to export; its parts add up to the
    # wall time of the process as measured from outside (the "one timing story").
    args = [a for a in TINY if a != "--export_dir="]
    began = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "zoo.train", *args, "--train_steps=6", "--batch_size=4",
         "--model_dir=run", "--export_dir=exports"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, seen = [], 0.0
    for line in process.stdout:  # stamped as it arrives: the exit after it is not counted
        lines.append(line)
        seen = time.time() - began
    assert process.wait(timeout=600) == 0, process.stderr.read()[-3000:]
    last = [line for line in lines if line.startswith("Time: ")][-1]
    head, _, listed = last.strip().partition(" s since the process started: ")
    total = float(head.removeprefix("Time: "))
    parts = {name: float(seconds.removesuffix(" s"))
             for name, seconds in (item.split(" ", 1) for item in listed.split(", "))}
    assert list(parts)[0] == "startup" and set(parts) == {
        "startup", "first_step", "training", "evaluation", "checkpoints", "report", "export"}
    assert sum(parts.values()) == pytest.approx(total, abs=0.05 * len(parts))  # rounding
    # Between the spawn and the line there is only the fork: the line leaves nothing out (a
    # start-up it missed would show as seconds here). Not a speed check: it holds under load.
    assert total <= seen + 0.05 and seen - total < 1.0 + 0.05 * seen, (total, seen)
    recorded = json.loads((tmp_path / "run" / "summary.json").read_text())["timing"]
    assert recorded.keys() == parts.keys()
    assert sum(recorded.values()) == pytest.approx(total, abs=0.05)
