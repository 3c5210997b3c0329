"""The zoo's one explicit table: preset name -> backbone, its config, its task and recipe.

    >>> import zoo
    >>> zoo.list_models()[:2]
    ['transformer_lm_tiny', 'transformer_lm_tiny_speedrun']

Plain data, importable without Keras or TensorFlow (a command line checks `--model` before
loading them); `zoo.builders` makes a preset into a model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from tasks.catalog import BUILT_IN_TASKS, MASKED_LM_PRETRAINING
from zoo.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named model: its backbone, the task it is usually trained for, and how.

    `config` holds every backbone argument a user may override with `--set key=value`
    (vocab_size comes from the tokenizer). `task` names the default task (`--task` picks
    another) and `task_options` its settings for this preset (also `--set` keys). `training`
    holds defaults for `RunConfig` fields (batch size, optimizer, schedule, dataset...) that
    flags and config files override in turn. A `counted` model (the n-gram) is built by
    counting, not by the trainer, and has no head: the model is the whole LM.
    """

    name: str
    description: str
    backbone: str | Callable[..., Any]  # a zoo.models class by name, or any callable
    config: Mapping[str, Any]
    task: str = "causal_lm"
    task_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    training: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    reference_vocab_size: int = 65  # only for the parameter count shown by --list_models
    # The built model's count at reference_vocab_size, for --list_models without building it
    # (tests/zoo/test_registry.py checks every one).
    parameters: int | None = None
    counted: bool = False


def _transformer(layers: int, heads: int, width: int, context: int, dropout: float,
                 activation: str = "gelu") -> dict:
    return dict(
        sequence_length=context,
        num_layers=layers,
        num_heads=heads,
        hidden_dim=width,
        intermediate_dim=4 * width,
        dropout=dropout,
        position="learned",
        rotary=False,
        activation=activation,
        layer_norm_epsilon=1e-5,
    )


# GPT-2's recipe where a gpt2_* preset trains from scratch (Radford et al. 2019 sizes; on GPUs).
_GPT2_TRAINING = dict(
    dataset="wikitext2",
    tokenizer="bpe",
    vocab_size=50257,
    batch_size=16,
    train_steps=20000,
    learning_rate=6e-4,
    min_learning_rate=6e-5,
    warmup_steps=2000,
    beta_2=0.95,
    eval_every=1000,
    checkpoint_every=1000,
)


def _gpt2(name: str, layers: int, heads: int, width: int, parameters: int, size: str) -> Preset:
    """A published GPT-2 size: tanh GELU, dropout 0.1, 1,024 positions, tied head. Its counts
    are Hugging Face's for the same checkpoints (GPT2LMHeadModel, tied)."""
    return Preset(
        name,
        f"GPT-2 {size}: {layers} layers x {heads} heads, width {width}, context 1024 "
        "(zoo.import_checkpoint brings in the published weights)",
        "TransformerDecoder",
        _transformer(layers, heads, width, 1024, 0.1, activation="gelu_tanh"),
        training=_GPT2_TRAINING,
        reference_vocab_size=50257,
        parameters=parameters,
    )


def _zaremba(units: int, unroll: int, dropout: float, init: float) -> dict:
    return dict(
        sequence_length=unroll,
        hidden_dim=units,
        num_layers=2,
        dropout=dropout,
        init_scale=init,
        cell="lstm",
    )


def _bert(layers: int, width: int, heads: int) -> dict:
    """Turc et al. 2019's compact BERT shapes: L layers of width H, H/64 heads, MLP 4H."""
    return dict(
        sequence_length=128,
        num_layers=layers,
        num_heads=heads,
        hidden_dim=width,
        intermediate_dim=4 * width,
        dropout=0.1,
        num_segments=2,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        norm_first=True,  # the zoo's own; an imported BERT is post-LN (False), with a pooler
        pooler=False,
        position="learned",
        rotary=False,
    )


# Translation on the CPU: Tatoeba English-Spanish, one SentencePiece vocabulary for both sides,
# AdamW with warmup, about 8 epochs (an hour on 2 cores); evaluation each 1,000 steps on the
# first batches of the validation split, BLEU on all of it at the end.
_TRANSLATION_TRAINING = dict(
    dataset="spa_eng",
    tokenizer="sentencepiece",
    vocab_size=8000,
    batch_size=64,
    train_steps=10000,
    learning_rate=1e-3,
    warmup_steps=1000,
    min_learning_rate=5e-5,
    weight_decay=0.01,
    beta_2=0.98,
    eval_every=1000,
    checkpoint_every=1000,
    eval_batches=20,
    # Measured (tools/benchmark_train.py, 2 runs each): bfloat16 without XLA is no faster here
    # (134-140 ms/step against 118-139 in float32 with XLA): the sentences are short, so the
    # matmuls are small, and `auto`, which judges by the nominal 64 x 32 tokens, would pick it.
    mixed_precision="none",
)


# Zaremba et al.'s softmax layer is its own matrix with a bias, and they train on streams:
# truncated BPTT, the state running on across consecutive batches.
# transformer_seq2seq_small's shape reading 128 source tokens, for AESLC's emails.
_SUMMARIZER = dict(sequence_length=128, num_layers=3, num_heads=4, hidden_dim=256,
                   intermediate_dim=1024, dropout=0.1)
_ZAREMBA_TASK = dict(tie_embeddings=False, head_bias=True, stateful=True)


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
            "TransformerDecoder",
            _transformer(4, 4, 128, 64, 0.0),
            # Evaluations during the run read 4 batches of 64 x 64 (16k characters, as nanoGPT's
            # 20 x 12 x 64); the last one reads the whole validation split.
            training=dict(batch_size=16, train_steps=2500, learning_rate=1e-3, warmup_steps=100,
                          eval_batches=4),
            parameters=809_856,
        ),
        Preset(
            "transformer_lm_tiny_speedrun",
            "transformer_lm_tiny's shape, recipe for the least wall time to validation loss "
            "1.886 on Tiny Shakespeare (a CPU)",
            "TransformerDecoder",
            _transformer(4, 4, 128, 64, 0.0),
            # Measured side by side with nanoGPT (README, "Speedrun"): from the default recipe,
            # a 6x learning rate with a short warmup reaches 1.886 in 900 steps instead of
            # ~1,500, and the run evaluates and checkpoints once, at the end.
            training=dict(batch_size=16, train_steps=900, learning_rate=6e-3, warmup_steps=50,
                          eval_every=900, checkpoint_every=900, log_every=100),
            parameters=809_856,
        ),
        Preset(
            "transformer_lm_small",
            "GPT, 6 layers x 6 heads, width 384, context 256, dropout 0.2 (nanoGPT char model)",
            "TransformerDecoder",
            _transformer(6, 6, 384, 256, 0.2),
            training=dict(batch_size=64, train_steps=5000, learning_rate=1e-3, warmup_steps=100),
            parameters=10_770_816,
        ),
        _gpt2("gpt2_small", 12, 12, 768, 124_439_808, "124M"),
        _gpt2("gpt2_medium", 24, 16, 1024, 354_823_168, "355M"),
        _gpt2("gpt2_large", 36, 20, 1280, 774_030_080, "774M"),
        _gpt2("gpt2_xl", 48, 25, 1600, 1_557_611_200, "1.5B"),
        Preset(
            "lstm_lm_small",
            "Zaremba et al. 2014 small: 2 x 200 LSTM, unroll 20, no dropout (PTB test ppl 114.5)",
            "LSTMBackbone",
            _zaremba(200, 20, 0.0, 0.1),
            task_options=_ZAREMBA_TASK,
            training=_zaremba_training(20, clip=5.0, decay_start=4, epochs=13, decay=0.5),
            reference_vocab_size=10000,
            parameters=4_651_600,
        ),
        Preset(
            "lstm_lm_medium",
            "Zaremba et al. 2014 medium: 2 x 650 LSTM, unroll 35, dropout 0.5 (PTB test ppl 82.7)",
            "LSTMBackbone",
            _zaremba(650, 35, 0.5, 0.05),
            task_options=_ZAREMBA_TASK,
            training=_zaremba_training(35, clip=5.0, decay_start=6, epochs=39, decay=1 / 1.2),
            reference_vocab_size=10000,
            parameters=19_775_200,
        ),
        Preset(
            "lstm_lm_large",
            "Zaremba et al. 2014 large: 2 x 1500 LSTM, unroll 35, dropout 0.65 (PTB test ppl 78.4)",
            "LSTMBackbone",
            _zaremba(1500, 35, 0.65, 0.04),
            task_options=_ZAREMBA_TASK,
            training=_zaremba_training(35, clip=10.0, decay_start=14, epochs=55, decay=1 / 1.15),
            reference_vocab_size=10000,
            parameters=66_022_000,
        ),
        Preset(
            "bert_tiny",
            "BERT-Tiny: 2 layers x 2 heads, width 128, 128 tokens (Turc et al. 2019)",
            "TransformerEncoder",
            _bert(2, 128, 2),
            task="masked_lm",
            training=MASKED_LM_PRETRAINING,
            reference_vocab_size=30522,
            parameters=4_367_546,
        ),
        Preset(
            "bert_mini",
            "BERT-Mini: 4 layers x 4 heads, width 256, 128 tokens (Turc et al. 2019)",
            "TransformerEncoder",
            _bert(4, 256, 4),
            task="masked_lm",
            training=MASKED_LM_PRETRAINING,
            reference_vocab_size=30522,
            parameters=11_103_290,
        ),
        Preset(
            "bert_small",
            "BERT-Small: 4 layers x 8 heads, width 512, 128 tokens (Turc et al. 2019)",
            "TransformerEncoder",
            _bert(4, 512, 8),
            task="masked_lm",
            training=MASKED_LM_PRETRAINING,
            reference_vocab_size=30522,
            parameters=28_598_586,
        ),
        Preset(
            "transformer_seq2seq_small",
            "Encoder-decoder Transformer, 3 + 3 layers x 4 heads, width 256, 32 tokens a side",
            "TransformerSeq2Seq",
            dict(sequence_length=32, num_layers=3, num_heads=4, hidden_dim=256,
                 intermediate_dim=1024, dropout=0.1),
            task="translation",
            training=_TRANSLATION_TRAINING,
            reference_vocab_size=8000,
            parameters=9_643_008,
        ),
        Preset(
            "transformer_summarizer_small",
            "transformer_seq2seq_small's shape reading an email's first 128 tokens (AESLC: "
            "40% of emails are longer)",
            "TransformerSeq2Seq",
            _SUMMARIZER,
            task="summarization",
            training=BUILT_IN_TASKS["summarization"].recipe,
            reference_vocab_size=8000,
            parameters=9_692_160,
        ),
        Preset(
            "transformer_summarizer_copy",
            "transformer_summarizer_small with a copy mechanism (See et al. 2017's "
            "pointer-generator): names and numbers come from the email",
            "TransformerSeq2Seq",
            _SUMMARIZER,
            task="summarization",
            task_options={"copy_attention": True},
            training=BUILT_IN_TASKS["summarization"].recipe,
            reference_vocab_size=8000,
            parameters=9_757_953,
        ),
        Preset(
            "lstm_seq2seq_attention",
            "LSTM encoder-decoder with Luong attention (TensorFlow's NMT tutorial), width 256",
            "LSTMSeq2SeqAttention",
            dict(sequence_length=32, hidden_dim=256, dropout=0.1),
            task="translation",
            task_options={"tie_embeddings": False},
            training={**_TRANSLATION_TRAINING, "learning_rate": 2e-3, "jit_compile": False},
            reference_vocab_size=8000,
            parameters=7_924_800,
        ),
        Preset(
            "bag_of_words",
            "fastText-style bag of words and hashed bigrams, width 64: a classification baseline",
            "BagOfWords",
            dict(hidden_dim=64, sequence_length=64, bigram_buckets=1 << 18, dropout=0.0),
            task="text_classification",
            training=dict(
                dataset="sst2", tokenizer="word", vocab_size=20000, batch_size=64,
                train_steps=None, epochs=4.0, optimizer="adam", learning_rate=3e-3,
                lr_schedule="cosine", warmup_steps=0, min_learning_rate=1e-4,
                weight_decay=0.0, eval_every=1000, checkpoint_every=1000,
            ),
            reference_vocab_size=20000,
            parameters=18_057_346,
        ),
        Preset(
            "ngram_lm",
            "Interpolated modified Kneser-Ney 5-gram, counted not trained (PTB test ppl 141.2)",
            "NGramLM",
            dict(order=5, sequence_length=35),  # sequence_length: evaluation windows only
            task_options=dict(stateful=True),  # a counted model reads every text as one stream
            training=dict(dataset="ptb", tokenizer="word", train_steps=None, epochs=None),
            reference_vocab_size=10000,
            counted=True,
        ),
    ]
}

def list_models() -> list[str]:
    """Names of every preset, in the order they are listed."""
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def model_config(name: str, **overrides: Any) -> dict[str, Any]:
    """The preset's backbone arguments with `overrides` applied; unknown keys are a ConfigError."""
    preset = get_preset(name)
    unknown = sorted(set(overrides) - set(preset.config))
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)} for model {name!r}; "
            f"known: {', '.join(sorted(preset.config))}"
        )
    config = {**preset.config, **overrides}
    check_model_config(name, config)
    return config


# What each backbone argument may be: sizes are positive integers, rates in [0, 1).
_POSITIVE = ("sequence_length", "num_layers", "num_heads", "hidden_dim", "intermediate_dim",
             "order")
_RATES = ("dropout",)
ACTIVATIONS = ("gelu", "gelu_tanh", "relu")  # layers.ACTIVATIONS, named without Keras


def check_model_config(name: str, config: Mapping[str, Any]) -> None:
    """A ConfigError (naming the `--set` key) for a backbone argument out of range."""
    def bad(key: str, rule: str) -> ConfigError:
        return ConfigError(f"--set {key}: model {name} needs {rule}, got {config[key]!r}")

    for key in _POSITIVE:
        value = config.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 1):
            raise bad(key, "an integer >= 1")
    for key in _RATES:
        value = config.get(key)
        if value is not None and not (isinstance(value, int | float) and 0 <= value < 1):
            raise bad(key, "a rate in [0, 1)")
    if config.get("sequence_length", 2) < 2:
        raise bad("sequence_length", "at least 2 positions")
    heads, width = config.get("num_heads"), config.get("hidden_dim")
    if heads and width and width % heads:
        raise ConfigError(f"--set num_heads={heads}: must divide hidden_dim ({width}) for "
                          f"model {name}")
    if config.get("activation", "gelu") not in ACTIVATIONS:
        raise bad("activation", f"one of {', '.join(ACTIVATIONS)}")
    epsilon = config.get("layer_norm_epsilon")
    if epsilon is not None and not (isinstance(epsilon, int | float) and 0 < epsilon < 1):
        raise bad("layer_norm_epsilon", "a number in (0, 1)")
    scale = config.get("init_scale")
    if scale is not None and not (isinstance(scale, int | float) and scale > 0):
        raise bad("init_scale", "a number > 0 (or null for Keras' defaults)")


def task_options(preset: Preset, task_cls: Any) -> dict[str, Any]:
    """The preset's settings for `task_cls`: none when the task is not the preset's own."""
    return dict(preset.task_options) if task_cls.name == preset.task else {}
