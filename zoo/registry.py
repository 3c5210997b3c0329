"""The zoo's one explicit table: preset name -> model class, its config, and its training recipe.

    >>> import zoo
    >>> zoo.list_models()[:2]
    ['transformer_lm_tiny', 'transformer_lm_small']
    >>> model = zoo.build("transformer_lm_tiny", vocab_size=65, num_layers=2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import keras

from zoo.config import ConfigError
from zoo.models import LSTMLM, NGramLM, TransformerLM


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named model: how to build it and how it is usually trained.

    `config` holds every model argument a user may override with `--set key=value` (vocab_size
    comes from the tokenizer). `training` holds defaults for `RunConfig` fields (batch size,
    optimizer, schedule, dataset...) that flags and config files override in turn.
    """

    name: str
    description: str
    builder: Callable[..., keras.Model]
    config: Mapping[str, Any]
    training: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    reference_vocab_size: int = 65  # only for the parameter count shown by --list_models


def _transformer(layers: int, heads: int, width: int, context: int, dropout: float) -> dict:
    return dict(
        sequence_length=context,
        num_layers=layers,
        num_heads=heads,
        hidden_dim=width,
        intermediate_dim=4 * width,
        dropout=dropout,
        position="learned",
        rotary=False,
        tie_embeddings=True,
    )


def _zaremba(units: int, unroll: int, dropout: float, init: float) -> dict:
    return dict(
        sequence_length=unroll,
        hidden_dim=units,
        num_layers=2,
        dropout=dropout,
        init_scale=init,
        cell="lstm",
        tie_embeddings=False,
    )


def _zaremba_training(
    unroll: int, clip: float, decay_start: int, epochs: int, decay: float
) -> dict:
    # Zaremba et al. 2014, section 4: SGD at lr 1, batch 20, constant for `decay_start` epochs,
    # then multiplied by `decay` each epoch; gradients clipped to global norm `clip`. Their loss
    # is summed over the `unroll` time steps (and averaged over the batch); ours is the mean per
    # token, so the same updates need lr x unroll and a clip norm / unroll.
    return dict(
        dataset="ptb",
        tokenizer="word",
        batch_size=20,
        train_steps=None,
        epochs=epochs,
        optimizer="sgd",
        learning_rate=1.0 * unroll,
        lr_schedule="epoch_decay",
        warmup_steps=0,
        lr_decay_start_epoch=decay_start,
        lr_decay_rate=decay,
        weight_decay=0.0,
        clip_norm=clip / unroll,
        # One PTB epoch is (929,589 // 20 - 1) // unroll steps: evaluate and checkpoint at its end.
        eval_every=(929_589 // 20 - 1) // unroll,
        checkpoint_every=(929_589 // 20 - 1) // unroll,
        stateful=True,  # truncated BPTT: the state runs on across consecutive batches
        # Measured on the 2-core CPU (tools/benchmark_train.py): Keras' LSTM steps 15% faster
        # without XLA (54.5 vs 63.8 ms at batch 20 x 20), and XLA can't use cuDNN on GPUs.
        jit_compile=False,
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "transformer_lm_tiny",
            "GPT, 4 layers x 4 heads, width 128, context 64 (nanoGPT's CPU config); the default",
            TransformerLM,
            _transformer(4, 4, 128, 64, 0.0),
            dict(batch_size=16, train_steps=2500, learning_rate=1e-3, warmup_steps=100),
        ),
        Preset(
            "transformer_lm_small",
            "GPT, 6 layers x 6 heads, width 384, context 256, dropout 0.2 (nanoGPT char model)",
            TransformerLM,
            _transformer(6, 6, 384, 256, 0.2),
            dict(batch_size=64, train_steps=5000, learning_rate=1e-3, warmup_steps=100),
        ),
        Preset(
            "gpt2_small",
            "GPT-2 124M shape: 12 layers x 12 heads, width 768, context 1024 (for GPUs)",
            TransformerLM,
            _transformer(12, 12, 768, 1024, 0.0),
            dict(
                dataset="wikitext2",
                tokenizer="sentencepiece",
                batch_size=16,
                train_steps=20000,
                learning_rate=6e-4,
                min_learning_rate=6e-5,
                warmup_steps=2000,
                beta_2=0.95,
                eval_every=1000,
                checkpoint_every=1000,
            ),
            reference_vocab_size=50257,
        ),
        Preset(
            "lstm_lm_small",
            "Zaremba et al. 2014 small: 2 x 200 LSTM, unroll 20, no dropout (PTB test ppl 114.5)",
            LSTMLM,
            _zaremba(200, 20, 0.0, 0.1),
            _zaremba_training(20, clip=5.0, decay_start=4, epochs=13, decay=0.5),
            reference_vocab_size=10000,
        ),
        Preset(
            "lstm_lm_medium",
            "Zaremba et al. 2014 medium: 2 x 650 LSTM, unroll 35, dropout 0.5 (PTB test ppl 82.7)",
            LSTMLM,
            _zaremba(650, 35, 0.5, 0.05),
            _zaremba_training(35, clip=5.0, decay_start=6, epochs=39, decay=1 / 1.2),
            reference_vocab_size=10000,
        ),
        Preset(
            "lstm_lm_large",
            "Zaremba et al. 2014 large: 2 x 1500 LSTM, unroll 35, dropout 0.65 (PTB test ppl 78.4)",
            LSTMLM,
            _zaremba(1500, 35, 0.65, 0.04),
            _zaremba_training(35, clip=10.0, decay_start=14, epochs=55, decay=1 / 1.15),
            reference_vocab_size=10000,
        ),
        Preset(
            "ngram_lm",
            "Interpolated modified Kneser-Ney 5-gram, counted not trained (PTB test ppl 141.2)",
            NGramLM,
            dict(order=5, sequence_length=35),  # sequence_length: evaluation windows only
            dict(dataset="ptb", tokenizer="word", train_steps=None, epochs=None),
            reference_vocab_size=10000,
        ),
    ]
}

# Presets whose "training" is counting: zoo.train hands them to zoo.train_ngram.
COUNT_BASED = ("ngram_lm",)


def list_models() -> list[str]:
    """Names of every preset, in the order they are listed."""
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def model_config(name: str, **overrides: Any) -> dict[str, Any]:
    """The preset's model arguments with `overrides` applied; unknown keys are a ConfigError."""
    preset = get_preset(name)
    unknown = sorted(set(overrides) - set(preset.config))
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)} for model {name!r}; "
            f"known: {', '.join(sorted(preset.config))}"
        )
    return {**preset.config, **overrides}


def build(name: str, vocab_size: int, **overrides: Any) -> keras.Model:
    """Builds preset `name` for a `vocab_size`-token vocabulary, with its weights created."""
    preset = get_preset(name)
    model = preset.builder(vocab_size=vocab_size, **model_config(name, **overrides), name=name)
    model(keras.ops.zeros((1, 1), dtype="int32"))
    return model
