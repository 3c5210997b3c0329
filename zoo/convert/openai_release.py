"""OpenAI's original GPT-2 release: model.ckpt.* (TensorFlow 1), hparams.json, encoder.json,
vocab.bpe, as `download_model.py` of openai/gpt-2 fetches them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tasks.data.corpora import text_lines
from zoo.convert.source import Source, SourceError

# OpenAI's variable under model/ -> Hugging Face's name (the same tensor; Conv1D kernels carry a
# leading axis of 1 in the original).
_BLOCK = {
    "ln_1/g": "ln_1.weight", "ln_1/b": "ln_1.bias",
    "attn/c_attn/w": "attn.c_attn.weight", "attn/c_attn/b": "attn.c_attn.bias",
    "attn/c_proj/w": "attn.c_proj.weight", "attn/c_proj/b": "attn.c_proj.bias",
    "ln_2/g": "ln_2.weight", "ln_2/b": "ln_2.bias",
    "mlp/c_fc/w": "mlp.c_fc.weight", "mlp/c_fc/b": "mlp.c_fc.bias",
    "mlp/c_proj/w": "mlp.c_proj.weight", "mlp/c_proj/b": "mlp.c_proj.bias",
}
_TOP = {"wte": "wte.weight", "wpe": "wpe.weight", "ln_f/g": "ln_f.weight", "ln_f/b": "ln_f.bias"}


def is_openai_release(path: Path) -> bool:
    return (path / "hparams.json").is_file() and (path / "encoder.json").is_file()


def read_openai_release(path: Path) -> Source:
    import tensorflow as tf

    from tasks.data.tokenizers import BytePairTokenizer

    hparams = json.loads((path / "hparams.json").read_text("utf-8"))
    prefix = tf.train.latest_checkpoint(str(path)) or str(path / "model.ckpt")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise SourceError(f"{path}: no readable TensorFlow checkpoint ({error})") from None
    names = {f"model/{k}": v for k, v in _TOP.items()}
    for i in range(hparams["n_layer"]):
        names.update({f"model/h{i}/{k}": f"h.{i}.{v}" for k, v in _BLOCK.items()})
    tensors = {}
    for original, name in names.items():
        if not reader.has_tensor(original):
            raise SourceError(f"{prefix}: no variable {original}")
        value = np.asarray(reader.get_tensor(original), np.float32)
        tensors[name] = value[0] if name.endswith("weight") and value.ndim == 3 else value
    config = {"model_type": "gpt2", "vocab_size": hparams["n_vocab"],
              "n_positions": hparams["n_ctx"], "n_embd": hparams["n_embd"],
              "n_layer": hparams["n_layer"], "n_head": hparams["n_head"],
              "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
              "resid_pdrop": 0.1}
    vocabulary = json.loads((path / "encoder.json").read_text("utf-8"))
    merges = text_lines((path / "vocab.bpe").read_text("utf-8"))
    return Source("gpt2", config, tensors, BytePairTokenizer(vocabulary, merges), str(path))
