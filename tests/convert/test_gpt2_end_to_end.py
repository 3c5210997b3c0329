"""An imported GPT-2 through the command lines: import, fine-tune, export (TF Serving and
Hugging Face), serve, and answer over REST."""

from __future__ import annotations

import json
import math

from tests.serving.serving_helpers import Server


def test_import_fine_tune_export_and_serve(reference_folders, run_module, tmp_path):
    from tasks.data.corpora import load_corpus

    data = tmp_path / "text.txt"
    data.write_text(load_corpus("tiny_shakespeare").split("train")[:40_000], encoding="utf-8")
    imported, tuned, export = tmp_path / "gpt2", tmp_path / "tuned", tmp_path / "export"

    done = run_module("zoo.import_checkpoint", f"--source={reference_folders['huggingface']}",
                      f"--model_dir={imported}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Imported gpt2" in done.stdout
    again = run_module("zoo.import_checkpoint", f"--source={reference_folders['huggingface']}",
                       f"--model_dir={imported}")
    assert again.returncode == 2 and "exists" in again.stderr.strip().splitlines()[-1]

    # --init_from brings the preset and its shape: no --model or --set needed.
    done = run_module("zoo.train", f"--init_from={imported}", f"--data={data}",
                      "--train_steps=60", "--batch_size=8", "--learning_rate=3e-3",
                      "--warmup_steps=5", "--eval_every=60", "--checkpoint_every=60",
                      f"--model_dir={tuned}", f"--export_dir={export}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tuned / "summary.json").read_text())
    config = json.loads((tuned / "config.json").read_text())
    assert config["model"] == "gpt2_small" and config["model_overrides"]["num_layers"] == 2
    losses = [json.loads(line)["validation"]["loss"] for line in
              (tuned / "metrics.jsonl").read_text().splitlines()]
    # It learns: the reference's large random weights start far above the uniform guess over
    # 400 pieces (5.99 nats); 60 steps end well below it.
    assert losses[-1] < math.log(400) - 0.5, summary

    hf = tmp_path / "hf"
    done = run_module("zoo.export", f"--model_dir={tuned}", "--format=huggingface",
                      f"--out_dir={hf}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"config.json", "model.safetensors", "vocab.json", "merges.txt"} <= {
        p.name for p in hf.iterdir()}

    server = Server([f"--model_config_file={export / 'models.config'}"], tmp_path)
    try:
        row = {"prompts": "ROMEO: 👋🏽", "max_new_tokens": 8, "temperature": 0.0, "top_k": 0,
               "top_p": 1.0, "seed": 0}
        status, doc = server.rest("/v1/models/gpt2_small:predict",
                                  {"signature_name": "generate", "instances": [row]})
        assert status == 200, doc
        answer = doc["predictions"][0]
        assert answer["lengths"] == 8 and len(answer["token_ids"]) == 8, doc
        assert answer["text"], doc  # the continuation, detokenized in the graph
    finally:
        assert server.stop() == 0, server.output()
