"""Google's original BERT releases (google-research/bert, Turc et al.'s miniatures):
bert_model.ckpt.* (TensorFlow 1), bert_config.json, vocab.txt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tasks.data.corpora import text_lines
from zoo.convert.source import Source, SourceError


def is_google_release(path: Path) -> bool:
    return (path / "bert_config.json").is_file() and (path / "vocab.txt").is_file()


def hugging_face_name(name: str) -> str:
    """A Google BERT variable's Hugging Face name: "bert/encoder/layer_0/attention/self/query/
    kernel" -> "encoder.layer.0.attention.self.query.weight"."""
    name = name.removeprefix("bert/").replace("layer_", "layer/")
    name = {"cls/predictions/output_bias": "cls/predictions/bias"}.get(name, name)
    parts = name.split("/")
    last = {"kernel": "weight", "gamma": "weight", "beta": "bias"}.get(parts[-1], parts[-1])
    if parts[0] == "embeddings" and len(parts) == 2:
        return f"embeddings.{parts[1]}.weight"  # the three tables
    return ".".join([*parts[:-1], last])


def read_google_release(path: Path) -> Source:
    import tensorflow as tf

    from tasks.data.tokenizers import BertWordPieceTokenizer

    config = {"model_type": "bert",
              **json.loads((path / "bert_config.json").read_text("utf-8"))}
    prefix = tf.train.latest_checkpoint(str(path)) or str(path / "bert_model.ckpt")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise SourceError(f"{path}: no readable TensorFlow checkpoint ({error})") from None
    tensors = {}
    for name in reader.get_variable_to_shape_map():
        if not name.startswith(("bert/", "cls/predictions/")) or "adam_" in name:
            continue  # optimizer slots, global_step, the NSP head
        value = np.asarray(reader.get_tensor(name), np.float32)
        tensors[hugging_face_name(name)] = value.T if name.endswith("kernel") else value
    vocabulary = text_lines((path / "vocab.txt").read_text("utf-8"))
    # Google names its cased releases "cased_L-..."; every other one is lower-cased.
    lowercase = "cased" not in path.name.lower().replace("uncased", "")
    return Source("bert", config, tensors, BertWordPieceTokenizer(vocabulary, lowercase),
                  str(path))
