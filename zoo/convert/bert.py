"""BERT (Devlin et al. 2019) onto the zoo's TransformerEncoder and back.

A BertForSequenceClassification becomes a text-classification run (its classifier and class
names kept); a BertForMaskedLM, a masked-LM run; a BertModel, a masked-LM run whose head
starts new. A checkpoint without the pooler (transformers saves a BertForMaskedLM without one)
gets a new pooler, as `transformers` does when it fine-tunes such a checkpoint as a classifier.

The zoo's encoder is BERT with `norm_first=False` (a LayerNorm on the embeddings, post-LayerNorm
blocks, no final LayerNorm), exact GELU, segment (token type) embeddings and `pooler=True`:
settings, not a second model. Names are Hugging Face's (BertModel, BertForMaskedLM,
BertForSequenceClassification, without their "bert." prefix); PyTorch Linear kernels are
stored [out, in] there, [in, out] in the zoo.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.convert.source import RunTask, Source, SourceError

FAMILY = "bert"
PRESETS = {(2, 128): "bert_tiny", (4, 256): "bert_mini", (4, 512): "bert_small"}
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "relu": "relu"}


def zoo_model(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The zoo preset and backbone settings of a Hugging Face BERT config."""
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise SourceError(f"BERT position_embedding_type {config['position_embedding_type']!r}:"
                          " the zoo's encoder has absolute positions only")
    activation = config.get("hidden_act", "gelu")
    if activation not in ACTIVATIONS:
        raise SourceError(f"BERT hidden_act {activation!r} is not one the zoo has "
                          f"({', '.join(ACTIVATIONS)})")
    layers, width = config["num_hidden_layers"], config["hidden_size"]
    settings = dict(
        sequence_length=config["max_position_embeddings"],
        num_layers=layers,
        num_heads=config["num_attention_heads"],
        hidden_dim=width,
        intermediate_dim=config["intermediate_size"],
        dropout=float(config.get("hidden_dropout_prob", 0.1)),
        num_segments=config.get("type_vocab_size", 2),
        activation=ACTIVATIONS[activation],
        layer_norm_epsilon=float(config.get("layer_norm_eps", 1e-12)),
        norm_first=False,
        pooler=True,
    )
    return PRESETS.get((layers, width), "bert_tiny"), settings


def run_task(source: Source) -> RunTask:
    """A classifier stays one; anything else is a masked LM."""
    fresh = {} if "pooler.dense.weight" in source.tensors else {"backbone/pooler/": "pooler"}
    if "classifier.weight" not in source.tensors:
        if "cls.predictions.bias" not in source.tensors:
            fresh["mlm_head/"] = "masked-LM head"
        return RunTask("masked_lm", fresh=fresh)
    count = source.tensor("classifier.weight").shape[0]
    names = {int(k): str(v) for k, v in (source.config.get("id2label") or {}).items()}
    labels = tuple(names.get(i, f"LABEL_{i}") for i in range(count))
    if len(set(labels)) != count:
        raise SourceError(f"{source.origin}: id2label names a class twice: {list(labels)}")
    return RunTask("text_classification", labels=labels, fresh=fresh)


def _linear(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.T)


def zoo_weights(source: Source, settings: dict[str, Any], vocab_size: int) -> dict[str, np.ndarray]:
    """The zoo MaskedLM's or TextClassifier's weights (by `zoo.checkpoints.model_variables`
    path) from `source`. Parts the checkpoint lacks (a BertModel's masked-LM head, a
    BertForMaskedLM's pooler) are not among them."""
    width, heads = settings["hidden_dim"], settings["num_heads"]
    inner, head_dim = settings["intermediate_dim"], width // heads
    t = source.tensor
    weights = {
        "backbone/embedding/token_embedding/embeddings":
            t("embeddings.word_embeddings.weight", (vocab_size, width)),
        "backbone/embedding/position_embedding/embeddings":
            t("embeddings.position_embeddings.weight", (settings["sequence_length"], width)),
        "backbone/segment_embedding/embeddings":
            t("embeddings.token_type_embeddings.weight", (settings["num_segments"], width)),
        "backbone/embedding_norm/gamma": t("embeddings.LayerNorm.weight", (width,)),
        "backbone/embedding_norm/beta": t("embeddings.LayerNorm.bias", (width,)),
    }
    if "pooler.dense.weight" in source.tensors:
        weights["backbone/pooler/kernel"] = _linear(t("pooler.dense.weight", (width, width)))
        weights["backbone/pooler/bias"] = t("pooler.dense.bias", (width,))
    for i in range(settings["num_layers"]):
        h, block = f"encoder.layer.{i}.", f"backbone/block_{i}/"
        qkv = [_linear(t(f"{h}attention.self.{p}.weight", (width, width)))
               .reshape(width, heads, head_dim) for p in ("query", "key", "value")]
        qkv_bias = [t(f"{h}attention.self.{p}.bias", (width,)).reshape(1, heads, head_dim)
                    for p in ("query", "key", "value")]
        weights.update({
            block + "self_attention/qkv/kernel": np.stack(qkv, axis=1),
            block + "self_attention/qkv/bias": np.stack(qkv_bias, axis=0),
            block + "self_attention/output/kernel":
                _linear(t(h + "attention.output.dense.weight", (width, width)))
                .reshape(heads, head_dim, width),
            block + "self_attention/output/bias": t(h + "attention.output.dense.bias", (width,)),
            block + "self_attention_norm/gamma": t(h + "attention.output.LayerNorm.weight",
                                                   (width,)),
            block + "self_attention_norm/beta": t(h + "attention.output.LayerNorm.bias", (width,)),
            block + "feedforward/expand/kernel":
                _linear(t(h + "intermediate.dense.weight", (inner, width))),
            block + "feedforward/expand/bias": t(h + "intermediate.dense.bias", (inner,)),
            block + "feedforward/contract/kernel":
                _linear(t(h + "output.dense.weight", (width, inner))),
            block + "feedforward/contract/bias": t(h + "output.dense.bias", (width,)),
            block + "feedforward_norm/gamma": t(h + "output.LayerNorm.weight", (width,)),
            block + "feedforward_norm/beta": t(h + "output.LayerNorm.bias", (width,)),
        })
    if "classifier.weight" in source.tensors:
        count = source.tensor("classifier.weight").shape[0]
        weights["classifier/kernel"] = _linear(t("classifier.weight", (count, width)))
        weights["classifier/bias"] = t("classifier.bias", (count,))
    elif "cls.predictions.bias" in source.tensors:
        p = "cls.predictions."
        weights.update({
            "mlm_head/intermediate_dense/kernel":
                _linear(t(p + "transform.dense.weight", (width, width))),
            "mlm_head/intermediate_dense/bias": t(p + "transform.dense.bias", (width,)),
            "mlm_head/intermediate_layer_norm/gamma": t(p + "transform.LayerNorm.weight",
                                                        (width,)),
            "mlm_head/intermediate_layer_norm/beta": t(p + "transform.LayerNorm.bias", (width,)),
            "mlm_head/output_bias": t(p + "bias", (vocab_size,)),
        })
    return weights


def canonical_names(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Hugging Face's current names: no "bert." prefix, LayerNorm.weight/bias (older
    checkpoints say gamma/beta)."""
    renamed = {}
    for name, value in tensors.items():
        name = name.removeprefix("bert.")
        if ".LayerNorm." in name:
            name = name.replace(".gamma", ".weight").replace(".beta", ".bias")
        renamed[name] = value
    return renamed


def keras_hub_tensors(backbone) -> dict[str, np.ndarray]:
    """A keras-hub BertBackbone's weights by Hugging Face's names (keras-hub has no BERT
    exporter; this is the inverse of its `convert_bert`)."""
    def value(variable):
        return np.asarray(variable.numpy(), np.float32)

    width = backbone.hidden_dim
    tensors = {
        "embeddings.word_embeddings.weight": value(backbone.get_layer("token_embedding")
                                                   .embeddings),
        "embeddings.position_embeddings.weight": value(backbone.get_layer("position_embedding")
                                                       .position_embeddings),
        "embeddings.token_type_embeddings.weight": value(backbone.get_layer("segment_embedding")
                                                         .embeddings),
        "embeddings.LayerNorm.weight": value(backbone.get_layer("embeddings_layer_norm").gamma),
        "embeddings.LayerNorm.bias": value(backbone.get_layer("embeddings_layer_norm").beta),
        "pooler.dense.weight": value(backbone.get_layer("pooled_dense").kernel).T,
        "pooler.dense.bias": value(backbone.get_layer("pooled_dense").bias),
    }
    for i in range(backbone.num_layers):
        layer, h = backbone.get_layer(f"transformer_layer_{i}"), f"encoder.layer.{i}."
        attention = layer._self_attention_layer  # noqa: SLF001 - keras-hub names no public path
        for name, dense in (("query", attention.query_dense), ("key", attention.key_dense),
                            ("value", attention.value_dense)):
            tensors[f"{h}attention.self.{name}.weight"] = value(dense.kernel).reshape(width, -1).T
            tensors[f"{h}attention.self.{name}.bias"] = value(dense.bias).reshape(-1)
        tensors[h + "attention.output.dense.weight"] = \
            value(attention.output_dense.kernel).reshape(-1, width).T
        tensors[h + "attention.output.dense.bias"] = value(attention.output_dense.bias)
        for hf, keras_norm in (("attention.output.LayerNorm", layer._self_attention_layer_norm),
                               ("output.LayerNorm", layer._feedforward_layer_norm)):
            tensors[f"{h}{hf}.weight"] = value(keras_norm.gamma)
            tensors[f"{h}{hf}.bias"] = value(keras_norm.beta)
        tensors[h + "intermediate.dense.weight"] = \
            value(layer._feedforward_intermediate_dense.kernel).T
        tensors[h + "intermediate.dense.bias"] = value(layer._feedforward_intermediate_dense.bias)
        tensors[h + "output.dense.weight"] = value(layer._feedforward_output_dense.kernel).T
        tensors[h + "output.dense.bias"] = value(layer._feedforward_output_dense.bias)
    return {k: np.ascontiguousarray(v) for k, v in tensors.items()}


def huggingface_checkpoint(weights: dict[str, np.ndarray], settings: dict[str, Any],
                           special_ids: dict[str, int], labels: list[str] | None = None,
                           ) -> tuple[dict, dict[str, np.ndarray]]:
    """A zoo BERT-shaped MaskedLM's weights (by path) as a BertForMaskedLM, or a
    TextClassifier's (with its class names as `labels`) as a BertForSequenceClassification:
    (config, tensors)."""
    if (settings.get("norm_first", True) or not settings.get("pooler")
            or settings.get("rotary") or settings.get("position", "learned") != "learned"):
        raise SourceError("only a BERT-shaped encoder (norm_first=false, pooler=true, learned "
                          "positions, as an imported BERT has) leaves as a Hugging Face BERT")
    width, layers = settings["hidden_dim"], settings["num_layers"]
    tokens = weights["backbone/embedding/token_embedding/embeddings"]
    tensors = {
        "bert.embeddings.word_embeddings.weight": tokens,
        "bert.embeddings.position_embeddings.weight":
            weights["backbone/embedding/position_embedding/embeddings"],
        "bert.embeddings.token_type_embeddings.weight":
            weights["backbone/segment_embedding/embeddings"],
        "bert.embeddings.LayerNorm.weight": weights["backbone/embedding_norm/gamma"],
        "bert.embeddings.LayerNorm.bias": weights["backbone/embedding_norm/beta"],
        "bert.pooler.dense.weight": _linear(weights["backbone/pooler/kernel"]),
        "bert.pooler.dense.bias": weights["backbone/pooler/bias"],
    }
    for i in range(layers):
        h, block = f"bert.encoder.layer.{i}.", f"backbone/block_{i}/"
        qkv = weights[block + "self_attention/qkv/kernel"]
        qkv_bias = weights[block + "self_attention/qkv/bias"]
        for p, name in enumerate(("query", "key", "value")):
            tensors[f"{h}attention.self.{name}.weight"] = _linear(qkv[:, p].reshape(width, width))
            tensors[f"{h}attention.self.{name}.bias"] = qkv_bias[p].reshape(width)
        tensors.update({
            h + "attention.output.dense.weight":
                _linear(weights[block + "self_attention/output/kernel"].reshape(width, width)),
            h + "attention.output.dense.bias": weights[block + "self_attention/output/bias"],
            h + "attention.output.LayerNorm.weight": weights[block + "self_attention_norm/gamma"],
            h + "attention.output.LayerNorm.bias": weights[block + "self_attention_norm/beta"],
            h + "intermediate.dense.weight": _linear(weights[block + "feedforward/expand/kernel"]),
            h + "intermediate.dense.bias": weights[block + "feedforward/expand/bias"],
            h + "output.dense.weight": _linear(weights[block + "feedforward/contract/kernel"]),
            h + "output.dense.bias": weights[block + "feedforward/contract/bias"],
            h + "output.LayerNorm.weight": weights[block + "feedforward_norm/gamma"],
            h + "output.LayerNorm.bias": weights[block + "feedforward_norm/beta"],
        })
    if labels is not None:
        tensors["classifier.weight"] = _linear(weights["classifier/kernel"])
        tensors["classifier.bias"] = weights["classifier/bias"]
    else:
        tensors.update(_masked_lm_head(weights, tokens))
    config = _huggingface_config(settings, int(tokens.shape[0]), special_ids.get("pad", 0),
                                 labels)
    return config, tensors


def _masked_lm_head(weights: dict[str, np.ndarray], tokens: np.ndarray) -> dict[str, np.ndarray]:
    p = "cls.predictions."
    return {
        p + "transform.dense.weight": _linear(weights["mlm_head/intermediate_dense/kernel"]),
        p + "transform.dense.bias": weights["mlm_head/intermediate_dense/bias"],
        p + "transform.LayerNorm.weight": weights["mlm_head/intermediate_layer_norm/gamma"],
        p + "transform.LayerNorm.bias": weights["mlm_head/intermediate_layer_norm/beta"],
        p + "bias": weights["mlm_head/output_bias"],
        p + "decoder.weight": tokens,  # tied, as BERT's
        p + "decoder.bias": weights["mlm_head/output_bias"],
    }


def _huggingface_config(settings: dict[str, Any], vocab_size: int, pad_id: int,
                        labels: list[str] | None) -> dict[str, Any]:
    activation = {v: k for k, v in ACTIVATIONS.items()}[settings.get("activation", "gelu")]
    config = {
        "architectures": ["BertForSequenceClassification" if labels is not None
                          else "BertForMaskedLM"],
        "model_type": "bert",
        "vocab_size": vocab_size,
        "hidden_size": int(settings["hidden_dim"]),
        "num_hidden_layers": int(settings["num_layers"]),
        "num_attention_heads": int(settings["num_heads"]),
        "intermediate_size": int(settings["intermediate_dim"]),
        "hidden_act": activation,
        "hidden_dropout_prob": float(settings.get("dropout", 0.1)),
        "attention_probs_dropout_prob": 0.0,  # the zoo's attention has no such dropout
        "max_position_embeddings": int(settings["sequence_length"]),
        "type_vocab_size": int(settings["num_segments"]),
        "layer_norm_eps": float(settings.get("layer_norm_epsilon", 1e-12)),
        "initializer_range": 0.02,
        "pad_token_id": pad_id,
        "position_embedding_type": "absolute",
        "tie_word_embeddings": True,
    }
    if labels is not None:
        config["id2label"] = {str(i): label for i, label in enumerate(labels)}
        config["label2id"] = {label: i for i, label in enumerate(labels)}
    return config
