"""keras-hub preset directories (`save_to_preset`: config.json, model.weights.h5, assets/;
task.json and task.weights.h5 when a task was saved, as a BertTextClassifier's head is).

keras-hub loads its own preset, in safe mode, and its own Hugging Face exporter names the
weights, so the zoo maps only from Hugging Face's names.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tasks.data.corpora import text_lines
from zoo.convert.source import Source, SourceError

BACKBONES = {"GPT2Backbone": "gpt2", "BertBackbone": "bert"}


def is_keras_hub_preset(path: Path) -> bool:
    return (path / "metadata.json").is_file() and (path / "config.json").is_file()


def read_keras_hub_preset(path: Path) -> Source:
    import keras_hub
    from keras_hub.src.utils.transformers.export import gpt2 as hub_gpt2

    from tasks.data.tokenizers import BytePairTokenizer

    name = json.loads((path / "config.json").read_text("utf-8")).get("class_name")
    if name not in BACKBONES:
        raise SourceError(f"{path}: a keras-hub {name or 'unknown'} preset; the zoo imports "
                          f"{', '.join(BACKBONES)}")
    assets = path / "assets" / "tokenizer"
    if BACKBONES[name] == "bert":
        return _bert(path, assets)
    backbone = keras_hub.models.Backbone.from_preset(str(path))
    tensors = {k.removeprefix("transformer."): np.asarray(v.numpy(), np.float32)
               for k, v in hub_gpt2.get_gpt2_weights_map(backbone).items()}
    if not (assets / "vocabulary.json").is_file():
        raise SourceError(f"{path}: no tokenizer (assets/tokenizer/vocabulary.json)")
    vocabulary = json.loads((assets / "vocabulary.json").read_text("utf-8"))
    merges = text_lines((assets / "merges.txt").read_text("utf-8"))
    config = hub_gpt2.get_gpt2_config(backbone)
    return Source("gpt2", config, tensors, BytePairTokenizer(vocabulary, merges), str(path))


def _task_class(path: Path) -> str | None:
    if not (path / "task.json").is_file():
        return None
    return json.loads((path / "task.json").read_text("utf-8")).get("class_name")


def _bert(path: Path, assets: Path) -> Source:
    import keras
    import keras_hub

    from tasks.data.tokenizers import BertWordPieceTokenizer
    from zoo.convert import bert

    head = {}
    if _task_class(path) == "BertTextClassifier":  # its head too; other tasks' heads stay
        classifier = keras_hub.models.TextClassifier.from_preset(str(path), preprocessor=None)
        backbone, dense = classifier.backbone, classifier.output_dense
        if dense.activation is not keras.activations.linear:
            raise SourceError(f"{path}: a BertTextClassifier with an output activation; the "
                              "zoo's classifier gives logits")
        head = {"classifier.weight": np.asarray(dense.kernel.numpy(), np.float32).T,
                "classifier.bias": np.asarray(dense.bias.numpy(), np.float32)}
    else:
        backbone = keras_hub.models.Backbone.from_preset(str(path))
    if not (assets / "vocabulary.txt").is_file():
        raise SourceError(f"{path}: no tokenizer (assets/tokenizer/vocabulary.txt)")
    settings = {}
    if (path / "tokenizer.json").is_file():
        settings = json.loads((path / "tokenizer.json").read_text("utf-8")).get("config", {})
    tokenizer = BertWordPieceTokenizer(
        text_lines((assets / "vocabulary.txt").read_text("utf-8")),
        lowercase=settings.get("lowercase", True))
    config = {  # Hugging Face's names for what the backbone's config says
        "model_type": "bert", "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim, "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments, "hidden_dropout_prob": backbone.dropout,
        # keras-hub's BertBackbone computes GELU by its tanh approximation (Hugging Face's
        # "gelu_new"), not BERT's exact one: the import computes what the preset computes.
        "hidden_act": "gelu_new", "layer_norm_eps": 1e-12,
    }
    tensors = {**bert.keras_hub_tensors(backbone),
               **{k: np.ascontiguousarray(v) for k, v in head.items()}}
    return Source("bert", config, tensors, tokenizer, str(path))
