"""`tools/reproduce.py` as a user runs it: the list, bad names, and real recipes."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "reproduce.py"


def reproduce(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, env=dict(os.environ),
        capture_output=True, text=True, timeout=900,
    )


def test_list_names_every_experiment_with_paper_and_runtimes(tmp_path):
    result = reproduce("--list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name, paper in [
        ("ptb_kn5", "141.2"), ("ptb_lstm_small", "114.5"), ("ptb_lstm_medium", "82.7"),
        ("ptb_lstm_large", "78.4"), ("shakespeare_char_tiny", "1.88"),
        ("shakespeare_char_small", "1.4697"), ("wikitext2_lstm_medium", "n/a"),
        ("shakespeare_char_speedrun", "1.886"), ("squad_bert_tiny", "32.5"),
        ("sst2_bert_tiny_imdb", "0.832"), ("imdb_bow", "0.9122"),
    ]:
        line = next(line for line in result.stdout.splitlines() if line.startswith(name + " "))
        assert paper in line.split()
    metric_column = result.stdout.splitlines()[0].index("metric")
    for line in result.stdout.splitlines()[1:-1]:  # every name ends before the metric column
        assert line[metric_column - 1] == " " and line[metric_column] != " ", line
    assert "estimates" in result.stdout


@pytest.mark.parametrize("args", [("ptb_kn6",), ()])
def test_a_bad_experiment_is_one_line_and_status_2(tmp_path, args):
    result = reproduce(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reproduce: error:") and "ptb_kn5" in lines[0]
    assert not (tmp_path / "runs").exists()


def check_result(result: subprocess.CompletedProcess, pattern: str, runs: Path) -> dict:
    """The last line matches `pattern` and `runs` (relative to the cwd) holds the same as JSON."""
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(pattern, last)
    assert match, last
    record = json.loads((runs / f"{last.split()[0]}.json").read_text())
    assert record["ours"] == pytest.approx(float(match["ours"]), abs=1e-2)
    assert (runs / Path(record["model_dir"]).name).is_dir()
    return record


def test_ptb_kn5_reproduces_mikolov(data_dir, tmp_path):
    result = reproduce("ptb_kn5", cwd=tmp_path)  # into the default runs/reproduce
    record = check_result(
        result, r"ptb_kn5 test_perplexity ours=(?P<ours>\d+\.\d\d) paper=141\.2",
        tmp_path / "runs" / "reproduce",
    )
    assert 137.0 <= record["ours"] <= 145.4  # within 3% of Mikolov et al.'s 141.2


@pytest.mark.slow
def test_a_neural_recipe_trains_evaluates_and_reports(data_dir, tmp_path):
    tiny = ["--train_steps=4", "--eval_every=4", "--checkpoint_every=4", "--set=num_layers=1"]
    result = reproduce("shakespeare_char_tiny", "--runs_dir=out", *tiny, cwd=tmp_path)
    record = check_result(
        result, r"shakespeare_char_tiny validation_loss ours=(?P<ours>\d+\.\d{4}) paper=1\.88",
        tmp_path / "out",
    )
    assert record["extra_flags"] == tiny


def test_the_speedrun_times_its_evaluations_from_process_start(data_dir, tmp_path):
    short = ["--train_steps=20", "--eval_every=10", "--checkpoint_every=20", "--set=num_layers=1"]
    started = time.monotonic()
    result = reproduce("shakespeare_char_speedrun", "--runs_dir=out", *short, cwd=tmp_path)
    wall = time.monotonic() - started
    record = check_result(
        result,
        r"shakespeare_char_speedrun validation_loss ours=(?P<ours>\d+\.\d{4}) paper=1\.886 "
        r"time_to_1\.886=not reached",  # 20 steps are far from 1.886
        tmp_path / "out",
    )
    assert record["seconds_to_target"] is None
    lines = (Path(record["model_dir"]) if os.path.isabs(record["model_dir"])
             else tmp_path / record["model_dir"]) / "metrics.jsonl"
    evaluations = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [e["step"] for e in evaluations] == [10, 20]
    for e in evaluations:  # the process's clock includes start-up, so it runs ahead of training's
        assert e["train_seconds"] < e["process_seconds"] < wall


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("reproduce_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_time_to_loss_is_the_first_evaluation_at_or_below_the_target(script, tmp_path):
    records = [(100, 2.1, 10.0), (200, 1.88, 19.5), (300, 1.86, 29.0)]
    (tmp_path / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "validation": {"loss": v}, "process_seconds": t}) + "\n"
        for s, v, t in records))
    assert script.time_to_loss(str(tmp_path), 1.886) == {
        "target_loss": 1.886, "seconds_to_target": 19.5, "step_at_target": 200}
    assert script.time_to_loss(str(tmp_path), 1.5)["seconds_to_target"] is None


def test_a_squad_result_line_gives_exact_match_beside_f1(script):
    result = {"experiment": "squad_bert_tiny", "metric": "validation_f1", "ours": 18.8223,
              "paper": 32.5, "exact_match": 9.3188}
    assert script.result_line(result) == (
        "squad_bert_tiny validation_f1 ours=18.82 paper=32.5 exact_match=9.32")


def test_a_seeded_recipe_pretrains_once_and_fine_tunes_and_scores_each_seed(script, tmp_path):
    experiment = script.Experiment(
        "toy", "a toy", "validation_accuracy", 0.8, "zoo.train", ("--init_from={previous}",),
        "1 min", "1 min", before=(script.Stage("zoo.train", ("--task=masked_lm",)),), seeds=3)
    commands, run_dirs = script.recipe_commands(experiment, str(tmp_path / "toy"),
                                                str(tmp_path), ["--train_steps=5"])
    trainings = [c for c in commands if c[2] == "zoo.train"]
    assert len(trainings) == 4 and "--task=masked_lm" in trainings[0]
    assert [c[-2:] for c in trainings[1:]] == [[f"--seed={s}", "--train_steps=5"] for s in range(3)]
    assert all(f"--init_from={tmp_path / 'toy'}-stage1" in c for c in trainings[1:])
    assert run_dirs == [f"{tmp_path / 'toy'}-seed{s}" for s in range(3)]
    evaluations = [c for c in commands if c[2] == "zoo.evaluate"]
    assert [c[3] for c in evaluations] == [f"--model_dir={d}" for d in run_dirs]
    for run_dir, accuracy in zip(run_dirs, (0.80, 0.83, 0.86)):  # what zoo.evaluate writes
        os.makedirs(run_dir)
        Path(run_dir, "eval_validation.json").write_text(json.dumps({"accuracy": accuracy}))
    assert [script.read_figures(experiment, d)["accuracy"] for d in run_dirs] == [0.80, 0.83, 0.86]
    line = script.result_line({"experiment": "toy", "metric": "validation_accuracy",
                               "ours": 0.83, "paper": 0.8, "seed_values": [0.80, 0.83, 0.86]})
    assert line == ("toy validation_accuracy ours=0.830 paper=0.8 "
                    "(mean of 3 seeds: 0.800 0.830 0.860; spread 0.060)")
