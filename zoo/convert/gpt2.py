"""GPT-2 (Radford et al. 2019) onto the zoo's TransformerDecoder and back.

The zoo's decoder is GPT-2 when it has tanh GELU, biases, learned positions, pre-LayerNorm
blocks with a final LayerNorm and a head tied to the token table; these are its settings
(`activation="gelu_tanh"`), not a second model. Names are Hugging Face's (GPT2Model /
GPT2LMHeadModel): Conv1D kernels are stored [in, out], as the zoo's are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.convert.source import RunTask, Source, SourceError

FAMILY = "gpt2"
PRESETS = {  # (layers, heads, width) -> the zoo preset with that published shape
    (12, 12, 768): "gpt2_small",
    (24, 16, 1024): "gpt2_medium",
    (36, 20, 1280): "gpt2_large",
    (48, 25, 1600): "gpt2_xl",
}
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu",
               "relu": "relu"}
_UNSUPPORTED = ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn",
                "add_cross_attention")


def canonical_names(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """GPT2Model's names: a GPT2LMHeadModel's "transformer.h.0..." as "h.0..."."""
    return {name.removeprefix("transformer."): value for name, value in tensors.items()}


def zoo_model(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The zoo preset and backbone settings of a Hugging Face GPT-2 config."""
    for key in _UNSUPPORTED:
        if config.get(key):
            raise SourceError(f"GPT-2 config sets {key}, which the zoo's decoder does not have")
    if config.get("scale_attn_weights") is False:
        raise SourceError("GPT-2 config turns off scale_attn_weights; the zoo always scales")
    activation = config.get("activation_function", "gelu_new")
    if activation not in ACTIVATIONS:
        raise SourceError(f"GPT-2 activation {activation!r} is not one the zoo has "
                          f"({', '.join(ACTIVATIONS)})")
    width, layers, heads = config["n_embd"], config["n_layer"], config["n_head"]
    settings = dict(
        sequence_length=config["n_positions"],
        num_layers=layers,
        num_heads=heads,
        hidden_dim=width,
        intermediate_dim=config.get("n_inner") or 4 * width,
        dropout=float(config.get("resid_pdrop", 0.1)),
        activation=ACTIVATIONS[activation],
        layer_norm_epsilon=float(config.get("layer_norm_epsilon", 1e-5)),
    )
    return PRESETS.get((layers, heads, width), "gpt2_small"), settings


def run_task(source: Source) -> RunTask:
    """An imported GPT-2 is a causal LM (its head is the token table: nothing starts new)."""
    return RunTask("causal_lm")


def zoo_weights(source: Source, settings: dict[str, Any], vocab_size: int) -> dict[str, np.ndarray]:
    """The zoo CausalLM's weights (by `zoo.checkpoints.model_variables` path) from `source`."""
    width, heads = settings["hidden_dim"], settings["num_heads"]
    inner, head_dim = settings["intermediate_dim"], settings["hidden_dim"] // settings["num_heads"]
    t = source.tensor
    weights = {
        "backbone/embedding/token_embedding/embeddings": t("wte.weight", (vocab_size, width)),
        "backbone/embedding/position_embedding/embeddings":
            t("wpe.weight", (settings["sequence_length"], width)),
        "backbone/final_norm/gamma": t("ln_f.weight", (width,)),
        "backbone/final_norm/beta": t("ln_f.bias", (width,)),
    }
    head = source.tensors.get("lm_head.weight")
    if head is not None and not np.array_equal(head, weights[
            "backbone/embedding/token_embedding/embeddings"]):
        raise SourceError(f"{source.origin}: lm_head.weight is not the token table; the zoo "
                          "imports GPT-2 with its head tied, as published")
    for i in range(settings["num_layers"]):
        h, block = f"h.{i}.", f"backbone/block_{i}/"
        weights.update({
            block + "self_attention_norm/gamma": t(h + "ln_1.weight", (width,)),
            block + "self_attention_norm/beta": t(h + "ln_1.bias", (width,)),
            block + "self_attention/qkv/kernel":
                t(h + "attn.c_attn.weight", (width, 3 * width)).reshape(width, 3, heads, head_dim),
            block + "self_attention/qkv/bias":
                t(h + "attn.c_attn.bias", (3 * width,)).reshape(3, 1, heads, head_dim),
            block + "self_attention/output/kernel":
                t(h + "attn.c_proj.weight", (width, width)).reshape(heads, head_dim, width),
            block + "self_attention/output/bias": t(h + "attn.c_proj.bias", (width,)),
            block + "feedforward_norm/gamma": t(h + "ln_2.weight", (width,)),
            block + "feedforward_norm/beta": t(h + "ln_2.bias", (width,)),
            block + "feedforward/expand/kernel": t(h + "mlp.c_fc.weight", (width, inner)),
            block + "feedforward/expand/bias": t(h + "mlp.c_fc.bias", (inner,)),
            block + "feedforward/contract/kernel": t(h + "mlp.c_proj.weight", (inner, width)),
            block + "feedforward/contract/bias": t(h + "mlp.c_proj.bias", (width,)),
        })
    return weights


def huggingface_checkpoint(weights: dict[str, np.ndarray], settings: dict[str, Any],
                           special_ids: dict[str, int]) -> tuple[dict, dict[str, np.ndarray]]:
    """A zoo GPT-2-shaped CausalLM's weights (by path) as a GPT2LMHeadModel: (config, tensors)."""
    if settings.get("position") != "learned" or settings.get("rotary") \
            or settings.get("cross_attention"):
        raise SourceError("only a GPT-2-shaped decoder (learned positions, no rotary, no "
                          "cross-attention) leaves as a Hugging Face GPT-2")
    width = settings["hidden_dim"]
    tokens = weights["backbone/embedding/token_embedding/embeddings"]
    tensors = {
        "transformer.wte.weight": tokens,
        "transformer.wpe.weight": weights["backbone/embedding/position_embedding/embeddings"],
        "transformer.ln_f.weight": weights["backbone/final_norm/gamma"],
        "transformer.ln_f.bias": weights["backbone/final_norm/beta"],
        "lm_head.weight": tokens,
    }
    for i in range(settings["num_layers"]):
        h, block = f"transformer.h.{i}.", f"backbone/block_{i}/"
        w = lambda name, block=block: weights[block + name]  # noqa: E731
        tensors.update({
            h + "ln_1.weight": w("self_attention_norm/gamma"),
            h + "ln_1.bias": w("self_attention_norm/beta"),
            h + "attn.c_attn.weight": w("self_attention/qkv/kernel").reshape(width, 3 * width),
            h + "attn.c_attn.bias": w("self_attention/qkv/bias").reshape(3 * width),
            h + "attn.c_proj.weight": w("self_attention/output/kernel").reshape(width, width),
            h + "attn.c_proj.bias": w("self_attention/output/bias"),
            h + "ln_2.weight": w("feedforward_norm/gamma"),
            h + "ln_2.bias": w("feedforward_norm/beta"),
            h + "mlp.c_fc.weight": w("feedforward/expand/kernel"),
            h + "mlp.c_fc.bias": w("feedforward/expand/bias"),
            h + "mlp.c_proj.weight": w("feedforward/contract/kernel"),
            h + "mlp.c_proj.bias": w("feedforward/contract/bias"),
        })
    activation = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}[
        settings.get("activation", "gelu")]
    end = special_ids.get("eos", len(tokens) - 1)
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": int(tokens.shape[0]),
        "n_positions": int(settings["sequence_length"]),
        "n_ctx": int(settings["sequence_length"]),
        "n_embd": width,
        "n_layer": int(settings["num_layers"]),
        "n_head": int(settings["num_heads"]),
        "n_inner": int(settings["intermediate_dim"]),
        "activation_function": activation,
        "resid_pdrop": float(settings.get("dropout", 0.0)),
        "embd_pdrop": float(settings.get("dropout", 0.0)),
        "attn_pdrop": 0.0,  # the zoo's attention has no dropout on its probabilities
        "layer_norm_epsilon": float(settings.get("layer_norm_epsilon", 1e-5)),
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "bos_token_id": end,
        "eos_token_id": end,
    }
    return config, tensors
