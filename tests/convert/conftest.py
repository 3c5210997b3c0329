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


# ----------------------------------------------------------------------------- BERT

BERT_VOCAB_TARGET = 500
BERT_SHAPE = dict(num_layers=2, num_heads=4, hidden_dim=32, intermediate_dim=64,
                  max_sequence_length=40, num_segments=2)


@pytest.fixture(scope="session")
def bert_vocab(tmp_path_factory) -> Path:
    """vocab.txt of a lower-cased WordPiece vocabulary, trained by Hugging Face's `tokenizers`."""
    import tokenizers

    from tasks.data.corpora import load_corpus

    text = load_corpus("tiny_shakespeare").split("train")[:200_000]
    trainer = tokenizers.BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator([text], vocab_size=BERT_VOCAB_TARGET, show_progress=False)
    folder = tmp_path_factory.mktemp("bert_vocab")
    trainer.save_model(str(folder))
    return folder / "vocab.txt"


@pytest.fixture(scope="session")
def reference_bert(bert_vocab):
    """keras-hub's BertMaskedLM (a BertBackbone and its masked-LM head) with random weights."""
    import keras_hub

    size = len(bert_vocab.read_text("utf-8").splitlines())
    backbone = keras_hub.models.BertBackbone(vocabulary_size=size, dropout=0.0, **BERT_SHAPE)
    model = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
    model({"token_ids": np.zeros((1, 8), "int32"), "padding_mask": np.ones((1, 8), "int32"),
           "segment_ids": np.zeros((1, 8), "int32"), "mask_positions": np.zeros((1, 2), "int32")})
    rng = np.random.default_rng(11)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape).astype("float32"))
    return model


def bert_huggingface_tensors(model) -> dict[str, np.ndarray]:
    """The reference as BertForMaskedLM tensors (Hugging Face names, [out, in] kernels)."""
    from zoo.convert import bert

    tensors = {f"bert.{k}": v for k, v in bert.keras_hub_tensors(model.backbone).items()}
    head = model.masked_lm_head
    tensors.update({
        "cls.predictions.transform.dense.weight": head._intermediate_dense.kernel.numpy().T,
        "cls.predictions.transform.dense.bias": head._intermediate_dense.bias.numpy(),
        "cls.predictions.transform.LayerNorm.weight": head._intermediate_layer_norm.gamma.numpy(),
        "cls.predictions.transform.LayerNorm.bias": head._intermediate_layer_norm.beta.numpy(),
        "cls.predictions.bias": head._bias.numpy(),
    })
    return {k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()}


@pytest.fixture(scope="session")
def reference_bert_folders(reference_bert, bert_vocab, tmp_path_factory) -> dict[str, Path]:
    """The reference BERT as a keras-hub preset, a Hugging Face BertForMaskedLM folder (its
    names checked by keras-hub's own Hugging Face loader in the tests) and Google's original
    release layout (bert/... variables, [in, out] kernels, written by TensorFlow's SaveV2)."""
    import keras_hub
    import tensorflow as tf

    root = tmp_path_factory.mktemp("reference_bert")
    backbone = reference_bert.backbone
    backbone.save_to_preset(str(root / "keras_hub"))
    keras_hub.models.BertTokenizer(vocabulary=str(bert_vocab), lowercase=True).save_to_preset(
        str(root / "keras_hub"))

    tensors, config = write_bert_huggingface(reference_bert, bert_vocab, root / "huggingface")
    hf = root / "huggingface"

    google = root / "uncased_L-2_H-32_A-4"
    google.mkdir()
    variables = {}
    for name, value in tensors.items():
        original = google_name(name)
        variables[original] = value.T if original.endswith("kernel") else value
    tf.raw_ops.SaveV2(prefix=str(google / "bert_model.ckpt"), tensor_names=list(variables),
                      shape_and_slices=[""] * len(variables), tensors=list(variables.values()))
    (google / "bert_config.json").write_text(json.dumps(
        {k: v for k, v in config.items() if k not in ("architectures", "model_type")}))
    (google / "vocab.txt").write_text(bert_vocab.read_text("utf-8"), encoding="utf-8")
    return {"keras_hub": root / "keras_hub", "huggingface": hf, "google": google}


@pytest.fixture(scope="session")
def plain_bert_folder(bert_vocab, tmp_path_factory) -> Path:
    """A BertForMaskedLM folder of keras-hub's BERT at its own initialization (the scale a
    trained BERT has), for fine-tuning: the reference's large weights saturate its pooler."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(5)  # the same start whatever ran before
    size = len(bert_vocab.read_text("utf-8").splitlines())
    backbone = keras_hub.models.BertBackbone(vocabulary_size=size, dropout=0.1, **BERT_SHAPE)
    model = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
    model({"token_ids": np.zeros((1, 8), "int32"), "padding_mask": np.ones((1, 8), "int32"),
           "segment_ids": np.zeros((1, 8), "int32"), "mask_positions": np.zeros((1, 2), "int32")})
    folder = tmp_path_factory.mktemp("plain_bert") / "huggingface"
    write_bert_huggingface(model, bert_vocab, folder)
    return folder


CLASS_NAMES = ("negative", "neutral", "positive")


@pytest.fixture(scope="session")
def reference_bert_classifier(bert_vocab):
    """keras-hub's BertTextClassifier (3 classes) with random weights."""
    import keras_hub

    size = len(bert_vocab.read_text("utf-8").splitlines())
    backbone = keras_hub.models.BertBackbone(vocabulary_size=size, dropout=0.0, **BERT_SHAPE)
    model = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=3,
                                                preprocessor=None, dropout=0.0)
    model({"token_ids": np.zeros((1, 8), "int32"), "padding_mask": np.ones((1, 8), "int32"),
           "segment_ids": np.zeros((1, 8), "int32")})
    rng = np.random.default_rng(13)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape).astype("float32"))
    return model


@pytest.fixture(scope="session")
def reference_bert_classifier_folders(reference_bert_classifier, bert_vocab,
                                      tmp_path_factory) -> dict[str, Path]:
    """The reference classifier as a keras-hub preset (task.json and its head saved) and as a
    Hugging Face BertForSequenceClassification folder naming its classes."""
    import keras_hub

    root = tmp_path_factory.mktemp("reference_bert_classifier")
    reference_bert_classifier.save_to_preset(str(root / "keras_hub"))
    keras_hub.models.BertTokenizer(vocabulary=str(bert_vocab), lowercase=True).save_to_preset(
        str(root / "keras_hub"))
    dense = reference_bert_classifier.output_dense
    head = {"classifier.weight": dense.kernel.numpy().T, "classifier.bias": dense.bias.numpy()}
    write_bert_huggingface(reference_bert_classifier, bert_vocab, root / "huggingface",
                           head=head, labels=CLASS_NAMES)
    return {"keras_hub": root / "keras_hub", "huggingface": root / "huggingface"}


def write_bert_huggingface(model, bert_vocab: Path, folder: Path, head: dict | None = None,
                           labels: tuple[str, ...] | None = None) -> tuple[dict, dict]:
    """keras-hub's BertMaskedLM as a Hugging Face BertForMaskedLM folder, or with a
    classifier's `head` tensors and class names a BertForSequenceClassification one;
    (tensors, config)."""
    from safetensors.numpy import save_file

    if head is None:
        tensors, architecture = bert_huggingface_tensors(model), "BertForMaskedLM"
    else:
        from zoo.convert import bert

        tensors = {f"bert.{k}": v for k, v in bert.keras_hub_tensors(model.backbone).items()}
        tensors.update({k: np.ascontiguousarray(v, np.float32) for k, v in head.items()})
        architecture = "BertForSequenceClassification"
    folder.mkdir(parents=True)
    config = {"architectures": [architecture], "model_type": "bert",
              "vocab_size": model.backbone.vocabulary_size,
              "hidden_size": BERT_SHAPE["hidden_dim"],
              "num_hidden_layers": BERT_SHAPE["num_layers"],
              "num_attention_heads": BERT_SHAPE["num_heads"],
              "intermediate_size": BERT_SHAPE["intermediate_dim"],
              "max_position_embeddings": BERT_SHAPE["max_sequence_length"],
              # keras-hub's BERT (the reference) computes the tanh GELU, Hugging Face's
              # "gelu_new"; published BERTs say "gelu", the exact one, the encoder's default.
              "type_vocab_size": 2, "hidden_act": "gelu_new", "layer_norm_eps": 1e-12,
              "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
    if labels is not None:
        config["id2label"] = {str(i): name for i, name in enumerate(labels)}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    (folder / "vocab.txt").write_text(bert_vocab.read_text("utf-8"), encoding="utf-8")
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return tensors, config


def google_name(name: str) -> str:
    """A Hugging Face BERT tensor's name in Google's checkpoints (google-research/bert)."""
    name = name.removeprefix("bert.")
    if name == "cls.predictions.bias":
        return "cls/predictions/output_bias"
    parts = name.split(".")
    if parts[0] == "encoder":  # encoder.layer.0.attention... -> encoder/layer_0/attention...
        parts = ["encoder", f"layer_{parts[2]}", *parts[3:]]
    if parts[0] == "embeddings" and parts[1] != "LayerNorm":
        return "bert/embeddings/" + parts[1]  # the tables have no "/weight"
    norm = "LayerNorm" in parts
    last = {"weight": "gamma" if norm else "kernel", "bias": "beta" if norm else "bias"}[parts[-1]]
    prefix = "" if parts[0] == "cls" else "bert/"
    return prefix + "/".join([*parts[:-1], last])
