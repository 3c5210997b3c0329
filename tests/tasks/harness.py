"""One test harness for every task, as keras-hub's `run_task_test` is for its tasks.

`run_task_test(config, tmp_path)` takes a tiny run's settings and checks the whole life of a run
through the generic machinery: the model learns (validation loss falls well below where it
started), the checkpoint round-trips (a reloaded run computes the same metrics), evaluation
runs from the run directory alone, the export is written, and every serving signature answers
its warmup request in a fresh interpreter that imports only tensorflow and tensorflow_text.
It returns what it saw, so a task's own tests can assert on the metrics and the outputs.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo.config import RunConfig
from zoo.evaluation import Evaluator
from zoo.export import export_saved_model
from zoo.runs import load_run, make_trainer
from zoo.serving.saved_models import WARMUP_FILE

# Runs in a fresh interpreter: replays the export's warmup records against its signatures, as
# TF Serving does before it takes traffic, and prints every output.
CALL_EVERY_SIGNATURE = """
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the TF Text ops, as the model server links them)
from tensorflow_serving.apis import prediction_log_pb2

# Graph optimization changes no answer and cost half of this check's time for a beam-search
# export (60 s -> 30 s); zoo.serve's tests run the exports with it.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
path = sys.argv[1]
signatures = tf.saved_model.load(path).signatures
out = {"signatures": sorted(signatures), "outputs": {}}
for record in tf.data.TFRecordDataset(path + "/assets.extra/tf_serving_warmup_requests"):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    request = log.predict_log.request
    inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    result = signatures[request.model_spec.signature_name](**inputs)
    out["outputs"][request.model_spec.signature_name] = {
        k: np.asarray(v.numpy()).tolist() if v.dtype != tf.string
        else [x.decode("utf-8", "replace") for x in np.asarray(v.numpy()).reshape(-1)]
        for k, v in result.items()
    }
ours = {"zoo", "tasks", "layers", "keras_hub"}
out["ours"] = sorted({m.split(".")[0] for m in sys.modules} & ours)
print("RESULT " + json.dumps(out))
"""


@dataclasses.dataclass
class TaskTestResult:
    run_dir: Path
    initial: dict
    final: dict
    export: Path
    signatures: list[str]
    outputs: dict[str, dict]


def run_task_test(config: RunConfig, tmp_path: Path, *, learns_by: float = 0.1) -> TaskTestResult:
    """Trains `config` into tmp_path/run and checks it end to end (see the module docstring).

    `learns_by`: the validation loss must fall by at least this fraction of where it started.
    """
    run_dir = tmp_path / "run"
    trainer = make_trainer(config, str(run_dir))
    initial = trainer.evaluate("validation")
    result = trainer.fit()
    final = result.validation
    assert final["loss"] < (1 - learns_by) * initial["loss"], (initial, final)
    assert (run_dir / "summary.json").is_file() and (run_dir / "metrics.jsonl").is_file()

    run = load_run(str(run_dir))  # the checkpoint, alone: no optimizer, no corpus read
    assert run.step == trainer.num_steps
    batch = run.task.eval_batch_size(config.batch_size, 1)
    reloaded = Evaluator(run.task, run.model, _default_strategy()).evaluate(
        "validation", batch  # the whole split, as the run's final evaluation
    )
    for name, value in reloaded.items():  # (final also has the task's extra metrics: BLEU)
        if isinstance(value, float):
            assert final[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name

    export = Path(export_saved_model(str(run_dir), str(tmp_path / "saved_models")))
    assert (export / WARMUP_FILE).is_file()
    called = subprocess.run(
        [sys.executable, "-c", CALL_EVERY_SIGNATURE, str(export)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert called.returncode == 0, called.stderr[-3000:]
    line = [x for x in called.stdout.splitlines() if x.startswith("RESULT ")][-1]
    seen = json.loads(line[len("RESULT "):])
    assert seen["ours"] == [], "the export must run without the zoo or keras_hub"
    assert set(seen["outputs"]) == set(seen["signatures"]), "every signature has a warmup"
    for name, outputs in seen["outputs"].items():
        for key, value in outputs.items():
            numbers = [v for v in _flatten(value) if not isinstance(v, str)]
            assert np.all(np.isfinite(numbers)), (name, key, value)
    return TaskTestResult(run_dir, initial, final, export, seen["signatures"], seen["outputs"])


def _flatten(value):
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _default_strategy():
    import tensorflow as tf

    return tf.distribute.get_strategy()
