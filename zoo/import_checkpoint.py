"""`python -m zoo.import_checkpoint --source=<folder> --model_dir=runs/<name>`: a published
GPT-2 or BERT checkpoint as an ordinary zoo run (a causal LM, a masked LM, or a text
classifier from a BertForSequenceClassification / BertTextClassifier).

    python -m zoo.import_checkpoint --source=downloads/gpt2 --model_dir=runs/gpt2
    python -m zoo.import_checkpoint --source=hf:openai-community/gpt2 --model_dir=runs/gpt2
    python -m zoo.import_checkpoint --source=uncased_L-2_H-128_A-2 --model_dir=runs/bert-tiny
    python -m zoo.generate --model_dir=runs/gpt2 --prompt="The meaning of life is"
    python -m zoo.train --init_from=runs/bert-tiny --task=text_classification --dataset=sst2

Formats (detected; `--format` forces one): a Hugging Face folder (config.json,
model.safetensors and the tokenizer's files), a keras-hub preset folder (`save_to_preset`),
OpenAI's original GPT-2 release (model.ckpt.*, hparams.json, encoder.json, vocab.bpe), Google's
original BERT release (bert_model.ckpt.*, bert_config.json, vocab.txt). `hf:<repo id>` downloads
from the Hugging Face hub first.
"""

from __future__ import annotations

import json
import sys
import time

from absl import flags

from zoo import cli
from zoo.config import ConfigError

FORMATS = ("keras_hub", "huggingface", "openai", "google")  # zoo.convert.FORMATS, named without TF


def define_flags() -> None:
    flags.DEFINE_string("source", None, "Checkpoint folder, or hf:<repo id>.", required=True)
    flags.DEFINE_string("model_dir", None, "The run directory to write (must not exist).",
                        required=True)
    flags.DEFINE_enum("format", None, list(FORMATS), "The source's format (default: detected).")


def main(argv: list[str]) -> None:
    import os

    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if os.path.exists(FLAGS.model_dir):
        raise ConfigError(f"--model_dir: {FLAGS.model_dir} exists; an import writes a new run")
    if not FLAGS.source.startswith("hf:") and not os.path.isdir(FLAGS.source):
        raise ConfigError(f"--source: no such folder: {FLAGS.source}")
    started = time.monotonic()
    cli.start_tensorflow()
    from zoo.convert import detect_format, read_source, write_run

    format = FLAGS.format or (None if FLAGS.source.startswith("hf:")
                              else detect_format(FLAGS.source))
    print(f"Reading {FLAGS.source} ({format or 'huggingface'})", file=sys.stderr, flush=True)
    source = read_source(FLAGS.source, format)
    path = write_run(source, FLAGS.model_dir, format=format or "huggingface")
    print(f"Imported {source.family} ({len(source.tensors)} tensors) into {path} in "
          f"{time.monotonic() - started:.1f} s")
    record = json.loads((path / "imported.json").read_text("utf-8"))
    if record["started_new"]:
        print(f"The checkpoint has no {' or '.join(record['started_new'])}: the run's starts "
              "new (fine-tuning with --init_from trains it)", file=sys.stderr)


if __name__ == "__main__":
    define_flags()
    cli.run(main, prog="zoo.import_checkpoint")
