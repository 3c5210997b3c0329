"""A GPT-2-124M-shaped checkpoint through the zoo: import, export and serve timed, and the
export's generation speed against keras-hub's `GPT2CausalLM.generate` on the same weights.

    python tools/benchmark_import.py                    # needs $ZOO_DATA_DIR (for the vocabulary)
    python tools/benchmark_import.py --new_tokens=64 --workdir=/tmp/gpt2-bench

No published weights can be downloaded here, so the checkpoint is keras-hub's GPT2CausalLM at
GPT-2's 124M shape with random weights, saved by keras-hub's own Hugging Face exporter; its
50,257-piece byte-level BPE is trained by Hugging Face's `tokenizers` on WikiText-2 and IMDB's
unlabelled reviews. Each step runs as its own process (the commands a user types), timed with
its peak resident memory (GNU time's %M). Generation is greedy, 20-token prompts, `--new_tokens`
new tokens, at batch 1 and 8: the export's `generate` signature loaded in this process (the plain
graph TF Serving runs) against keras-hub's generate (XLA-compiled, its default), each timed on
its second call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags

flags.DEFINE_string("workdir", "/tmp/zoo-gpt2-124m", "Scratch folder (replaced).")
flags.DEFINE_integer("new_tokens", 32, "Tokens each generation adds.")
FLAGS = flags.FLAGS
REPO = Path(__file__).resolve().parents[1]
VOCAB = 50257


def train_vocabulary(folder: Path) -> None:
    import tokenizers

    data = Path(os.environ["ZOO_DATA_DIR"])
    text = [(data / "wikitext-2" / "train.txt").read_text("utf-8"),
            (data / "imdb" / "unsup.txt").read_text("utf-8")[:40_000_000]]
    trainer = tokenizers.ByteLevelBPETokenizer()
    trainer.train_from_iterator(text, vocab_size=VOCAB - 1, show_progress=False)
    trainer.save_model(str(folder))
    vocabulary = json.loads((folder / "vocab.json").read_text("utf-8"))
    if len(vocabulary) != VOCAB - 1:
        raise SystemExit(f"the training text gave only {len(vocabulary)} pieces")
    vocabulary["<|endoftext|>"] = VOCAB - 1
    (folder / "vocab.json").write_text(json.dumps(vocabulary), encoding="utf-8")


def reference_model(bpe: Path):
    import keras_hub

    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=str(bpe / "vocab.json"),
                                               merges=str(bpe / "merges.txt"))
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=VOCAB, num_layers=12, num_heads=12,
                                             hidden_dim=768, intermediate_dim=3072,
                                             max_sequence_length=1024, dropout=0.1)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=128)
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)


def timed(name: str, *args: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of `python -m <args>`, which must succeed."""
    start = time.monotonic()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", *args], cwd=REPO,
                          capture_output=True, text=True)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    peak = int(done.stderr.strip().splitlines()[-1]) / 1024
    print(f"{name:<8} {seconds:7.1f} s  peak {peak:7.0f} MB", flush=True)
    return seconds, peak


def serve_ready(export: Path, port: int) -> float:
    """Seconds from `python -m zoo.serve` to the model answering a request; the server stops."""
    import urllib.request

    start = time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "zoo.serve",
                               f"--model_config_file={export / 'models.config'}",
                               f"--rest_api_port={port}", f"--port={port + 1}"], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - start < 600:
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/v1/models/gpt2_small", timeout=5) as answer:
                    if "AVAILABLE" in answer.read().decode():
                        return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit("zoo.serve did not load the model in 600 s")
    finally:
        server.terminate()
        server.wait()


def generation_speeds(model, export_version: Path, new_tokens: int) -> None:
    import keras_hub
    import tensorflow as tf

    exported = tf.saved_model.load(str(export_version))
    generate = exported.signatures["generate"]
    on_ids = keras_hub.models.GPT2CausalLM(backbone=model.backbone, preprocessor=None)
    on_ids.compile(sampler="greedy")
    rng = np.random.default_rng(0)
    for batch in (1, 8):
        prompts = [" ".join(f"word{i}" for i in rng.integers(0, 99, 10)) for _ in range(batch)]
        ids = np.zeros((batch, 20 + new_tokens), "int32")
        ids[:, :20] = rng.integers(0, VOCAB - 1, (batch, 20))
        mask = np.arange(20 + new_tokens)[None].repeat(batch, 0) < 20
        inputs = dict(prompts=tf.constant(prompts),
                      max_new_tokens=tf.fill([batch], new_tokens),
                      temperature=tf.zeros([batch]), top_k=tf.zeros([batch], tf.int32),
                      top_p=tf.ones([batch]), seed=tf.zeros([batch], tf.int32))
        speeds = {}
        for name, call in (("zoo export", lambda i=inputs: generate(**i)),
                           ("keras-hub", lambda ids=ids, m=mask: on_ids.generate(
                               {"token_ids": ids, "padding_mask": m}, stop_token_ids=None))):
            call()  # the first call traces (and for keras-hub, compiles)
            start = time.monotonic()
            call()
            speeds[name] = batch * new_tokens / (time.monotonic() - start)
        print(f"generate batch {batch}: " + ", ".join(f"{k} {v:.0f} tokens/s"
                                                      for k, v in speeds.items()), flush=True)


def main(argv: list[str]) -> None:
    import shutil

    work = Path(FLAGS.workdir)
    shutil.rmtree(work, ignore_errors=True)
    (work / "bpe").mkdir(parents=True)
    start = time.monotonic()
    train_vocabulary(work / "bpe")
    model = reference_model(work / "bpe")
    model.export_to_transformers(str(work / "huggingface"))
    print(f"reference: {model.count_params():,} parameters, written in "
          f"{time.monotonic() - start:.0f} s", flush=True)
    timed("import", "zoo.import_checkpoint", f"--source={work / 'huggingface'}",
          f"--model_dir={work / 'run'}")
    timed("export", "zoo.export", f"--model_dir={work / 'run'}", f"--export_dir={work / 'export'}")
    print(f"serve    {serve_ready(work / 'export', 18611):7.1f} s to AVAILABLE", flush=True)
    generation_speeds(model, work / "export" / "gpt2_small" / "1", FLAGS.new_tokens)


if __name__ == "__main__":
    app.run(main)
