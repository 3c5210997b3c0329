"""Random GPT-2 reference checkpoints made by code not written here, in every format the zoo
imports: keras-hub's GPT2CausalLM (saved as a keras-hub preset, and as a Hugging Face folder
by keras-hub's own exporter), and OpenAI's original TensorFlow layout written with TensorFlow's
SaveV2 under the published variable names. The byte-level BPE vocabulary is trained by Hugging
Face's `tokenizers` on Tiny Shakespeare."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

VOCAB = 400  # BPE pieces; GPT-2's <|endoftext|> goes last, as in the published vocabulary
SHAPE = dict(num_layers=2, num_heads=4, hidden_dim=32, intermediate_dim=128,
             max_sequence_length=48)
END = "<|endoftext|>"


@pytest.fixture(scope="session")
def bpe_files(tmp_path_factory) -> Path:
    """vocab.json and merges.txt of a small byte-level BPE (GPT-2's format)."""
    import tokenizers

    from tasks.data.corpora import load_corpus

    text = load_corpus("tiny_shakespeare").split("train")[:200_000]
    trainer = tokenizers.ByteLevelBPETokenizer()
    trainer.train_from_iterator([text], vocab_size=VOCAB - 1, show_progress=False)
    folder = tmp_path_factory.mktemp("bpe")
    trainer.save_model(str(folder))
    vocabulary = json.loads((folder / "vocab.json").read_text("utf-8"))
    vocabulary[END] = len(vocabulary)
    (folder / "vocab.json").write_text(json.dumps(vocabulary), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def reference_gpt2(bpe_files):
    """keras-hub's GPT2CausalLM with random weights (norms and biases too, so every tensor's
    place is checked) and the BPE tokenizer."""
    import keras_hub

    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=str(bpe_files / "vocab.json"),
                                               merges=str(bpe_files / "merges.txt"))
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=VOCAB, dropout=0.0, **SHAPE)
    rng = np.random.default_rng(7)
    for weight in backbone.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape).astype("float32"))
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=48)
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)


@pytest.fixture(scope="session")
def reference_folders(reference_gpt2, bpe_files, tmp_path_factory) -> dict[str, Path]:
    """The reference model saved in each format: {"keras_hub", "huggingface", "openai"}."""
    root = tmp_path_factory.mktemp("reference")
    reference_gpt2.save_to_preset(str(root / "keras_hub"))
    reference_gpt2.export_to_transformers(str(root / "huggingface"))
    write_openai_release(reference_gpt2, bpe_files, root / "openai")
    return {name: root / name for name in ("keras_hub", "huggingface", "openai")}


def write_openai_release(model, bpe_files: Path, folder: Path) -> None:
    """The model as OpenAI's gpt-2 repository publishes it: model/h<i>/... TF1 variables (Conv1D
    kernels [1, in, out]), hparams.json, encoder.json, vocab.bpe."""
    import tensorflow as tf
    from keras_hub.src.utils.transformers.export import gpt2 as hub_gpt2

    names = {"wte.weight": "wte", "wpe.weight": "wpe", "ln_f.weight": "ln_f/g",
             "ln_f.bias": "ln_f/b"}
    block = {"ln_1.weight": "ln_1/g", "ln_1.bias": "ln_1/b", "ln_2.weight": "ln_2/g",
             "ln_2.bias": "ln_2/b", "attn.c_attn.weight": "attn/c_attn/w",
             "attn.c_attn.bias": "attn/c_attn/b", "attn.c_proj.weight": "attn/c_proj/w",
             "attn.c_proj.bias": "attn/c_proj/b", "mlp.c_fc.weight": "mlp/c_fc/w",
             "mlp.c_fc.bias": "mlp/c_fc/b", "mlp.c_proj.weight": "mlp/c_proj/w",
             "mlp.c_proj.bias": "mlp/c_proj/b"}
    tensors = {}
    for name, value in hub_gpt2.get_gpt2_weights_map(model.backbone).items():
        short = name.removeprefix("transformer.")
        if short.startswith("h."):
            _, layer, rest = short.split(".", 2)
            original = f"h{layer}/{block[rest]}"
        else:
            original = names[short]
        array = np.asarray(value.numpy(), np.float32)
        tensors[f"model/{original}"] = array[None] if original.endswith("/w") else array
    folder.mkdir(parents=True)
    tf.raw_ops.SaveV2(prefix=str(folder / "model.ckpt"), tensor_names=list(tensors),
                      shape_and_slices=[""] * len(tensors), tensors=list(tensors.values()))
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt"\n')
    hparams = {"n_vocab": VOCAB, "n_ctx": SHAPE["max_sequence_length"],
               "n_embd": SHAPE["hidden_dim"], "n_head": SHAPE["num_heads"],
               "n_layer": SHAPE["num_layers"]}
    (folder / "hparams.json").write_text(json.dumps(hparams))
    (folder / "encoder.json").write_text((bpe_files / "vocab.json").read_text("utf-8"))
    (folder / "vocab.bpe").write_text((bpe_files / "merges.txt").read_text("utf-8"))
