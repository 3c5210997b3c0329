"""Every entry point answers bad input with one line and exit status 2, before loading data.

Each module's table runs in one interpreter (importing TensorFlow once, not once per line): a
driver runs the entry point's own `main` through `zoo.cli.run` for every command line, as
`python -m` would, and reports its exit status and what it wrote to stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

DRIVER = """
import contextlib, io, json, runpy, sys, traceback
module, cases = sys.argv[1], json.loads(sys.argv[2])
namespace = runpy.run_module(module, run_name="zoo_driver")  # flags defined, main not run
if "define_flags" in namespace:
    namespace["define_flags"]()
from absl import flags
from zoo import cli
out = []
for args in cases:
    flags.FLAGS.unparse_flags()
    sys.argv = [module, *args]
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            cli.run(namespace["main"], prog=module)
        except SystemExit as e:
            code = e.code
        except BaseException:
            traceback.print_exc()
            code = "traceback"
    out.append({"args": args, "code": code, "stderr": err.getvalue()})
print("RESULT " + json.dumps(out))
"""


def run_table(module: str, cases: list[list[str]], cwd) -> list[dict]:
    result = subprocess.run([sys.executable, "-c", DRIVER, module, json.dumps(cases)], cwd=cwd,
                            capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    line = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, result.stderr[-3000:]
    return json.loads(line[-1][len("RESULT "):])


def check(outcome: dict, fragment: str) -> None:
    assert outcome["code"] == 2, outcome
    assert "Traceback" not in outcome["stderr"], outcome["stderr"]
    last = outcome["stderr"].strip().splitlines()[-1]
    assert fragment in last and len(last) < 600, outcome

TRAIN = [
    (["--set=num_layers=-1"], "num_layers"),
    (["--set=num_layers=0"], "num_layers"),
    (["--batch_size=0"], "--batch_size"),
    (["--batch_size=-4"], "--batch_size"),
    (["--checkpoint_every=0"], "--checkpoint_every"),
    (["--eval_every=-1"], "--eval_every"),
    (["--log_every=0"], "--log_every"),
    (["--epochs=-1"], "--epochs"),
    (["--set=dropout=2"], "dropout"),
    (["--dropout=1.5"], "--dropout"),
    (["--set=num_heads=3"], "divide hidden_dim"),
    (["--learning_rate=-1"], "--learning_rate"),
    (["--learning_rate=nan"], "--learning_rate"),
    (["--learning_rate=inf"], "--learning_rate"),
    (["--clip_norm=-1"], "--clip_norm"),
    (["--warmup_steps=-5"], "--warmup_steps"),
    (["--model_dir=afile"], "is a file"),
    (["--task=masked_lm"], "bidirectional"),
    (["--batch_size=abc"], "--batch_size"),  # absl's own flag errors: one line, exit 2 too
    (["--no_such_flag=1"], "no_such_flag"),
    (["--model=transformer_lm_tine"], "did you mean transformer_lm_tiny?"),
    (["--strategy=mirorred"], "did you mean mirrored?"),
    (["--config=binary.json"], "not UTF-8"),
    (["--model=bert_tiny", "--task=causal_lm"], "causal backbone"),
]


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "afile").write_text("not a run")
    (tmp_path / "half.jsonl").write_text('{"question": "who?"}\n')
    (tmp_path / "binary.json").write_bytes(bytes(range(256)))
    return tmp_path


def test_zoo_train(workdir):
    cases = [["--dataset=synthetic", "--export_dir=", *args] for args, _ in TRAIN]
    for outcome, (_, fragment) in zip(run_table("zoo.train", cases, workdir), TRAIN):
        check(outcome, fragment)


OTHERS = [
    ("zoo.evaluate", ["--model_dir=afile"], "afile"),
    ("zoo.evaluate", ["--model_dir=.", "--eval_batches=0"], "--eval_batches"),
    ("zoo.export", ["--model_dir=.", "--version=-1"], "run directory"),
    ("zoo.generate", ["--saved_model=garbage"], "cannot load garbage"),
    ("zoo.generate", ["--model_dir=.", "--num_samples=0"], "--num_samples"),
    ("zoo.generate", ["--model_dir=.", "--temperature=-1"], "temperature"),
    ("zoo.serve", ["--model_base_path=.", "--rest_api_num_threads=0"], "rest_api_num_threads"),
    ("zoo.serve", ["--model_base_path=.", "--grpc_max_threads=0"], "grpc_max_threads"),
    ("zoo.serve", ["--model_base_path=.", "--enable_batching",
                   "--batching_parameters_file=afile"], "BatchingParameters"),
    ("zoo.serve", ["--model_base_path=.", "--enable_batching",
                   "--batching_parameters_file=binary.json"], "not UTF-8"),
    ("zoo.serve", ["--model_config_file=binary.json"], "not UTF-8"),
    ("zoo.classify", ["--model_dir=afile", "--text=bad \udcff\udcfe text"], "not valid UTF-8"),
    ("zoo.generate", ["--model_dir=afile", "--prompt=\udcff"], "--prompt"),
    ("zoo.translate", ["--num_beams=0", "--model_dir=afile", "--text=a"], "num_beams"),
    ("zoo.train_ngram", ["--order=0"], "order"),
    ("zoo.classify", ["--text=a"], "exactly one"),
    ("zoo.translate", ["--model_dir=afile", "--text=a"], "afile"),
    ("zoo.answer", ["--question=a", "--context=b"], "exactly one"),
    ("zoo.answer", ["--model_dir=afile", "--context=b"], "one or more non-empty questions"),
    ("zoo.answer", ["--model_dir=afile", "--question=a"], "--context"),
    ("zoo.answer", ["--model_dir=afile", "--file=afile"], "afile:1: not JSON"),
    ("zoo.answer", ["--model_dir=afile", "--file=half.jsonl"], '"context"'),
    ("zoo.answer", ["--model_dir=afile", "--file=afile", "--question=a"], "not both"),
    ("zoo.answer", ["--model_dir=afile", "--question=a", "--context=b"], "afile"),
]


@pytest.mark.parametrize("module", sorted({m for m, _, _ in OTHERS}))
def test_other_entry_points(workdir, module):
    (workdir / "garbage").mkdir()
    (workdir / "garbage" / "saved_model.pb").write_bytes(b"\x00 not a proto")
    table = [(args, fragment) for m, args, fragment in OTHERS if m == module]
    for outcome, (_, fragment) in zip(run_table(module, [a for a, _ in table], workdir), table):
        check(outcome, fragment)
