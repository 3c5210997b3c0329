"""The precision a run trains in: chosen per machine and model, and as good as float32."""

import dataclasses
import math

import pytest

import zoo
from tasks import LanguageModelingTask
from tasks.data import build_tokenizer
from tasks.data.synthetic import MarkovSource
from zoo.config import RunConfig
from zoo.precision import CPU_BF16_MIN_GFLOP_PER_STEP, Machine, choose, matmul_flops_per_token
from zoo.runs import make_trainer

BIG = 10 * CPU_BF16_MIN_GFLOP_PER_STEP * 1e9
SMALL = 0.1 * CPU_BF16_MIN_GFLOP_PER_STEP * 1e9
AVX512_BF16 = Machine(cpu_bfloat16="AVX512_BF16")


@pytest.mark.parametrize("machine, flops, jit, expected", [
    (AVX512_BF16, BIG, None, ("mixed_bfloat16", False)),  # oneDNN bf16, XLA would not use it
    (AVX512_BF16, SMALL, None, ("float32", True)),  # XLA's fusion is worth more
    (AVX512_BF16, BIG, True, ("float32", True)),  # XLA asked for: its CPU dots are float32
    (AVX512_BF16, SMALL, False, ("float32", False)),
    (Machine(), BIG, None, ("float32", True)),  # no bf16 on the CPU
    (Machine(gpu="H100, compute capability 9.0", gpu_bfloat16=True), SMALL, None,
     ("mixed_bfloat16", True)),
    (Machine(gpu="T4, compute capability 7.5"), BIG, None, ("float32", True)),
])
def test_auto_picks_bfloat16_only_where_it_pays(machine, flops, jit, expected):
    chosen = choose("auto", jit, flops, machine)
    assert (chosen.policy, chosen.jit_compile) == expected
    assert chosen.reason


def test_a_recurrent_backbone_keeps_float32_unless_asked():
    assert choose("auto", None, BIG, AVX512_BF16, recurrent=True).policy == "float32"
    assert choose("mixed_bfloat16", False, BIG, AVX512_BF16, recurrent=True).policy == (
        "mixed_bfloat16")


def test_an_explicit_precision_is_kept():
    chosen = choose("mixed_bfloat16", None, SMALL, AVX512_BF16)
    assert (chosen.policy, chosen.jit_compile, chosen.reason) == ("mixed_bfloat16", True, "as set")
    assert choose("none", False, BIG, AVX512_BF16).policy == "float32"


@pytest.mark.parametrize("name", ["transformer_lm_tiny", "transformer_lm_small", "lstm_lm_small"])
def test_the_flop_estimate_matches_the_built_models_weights(name):
    """The estimate made before building = 6 x the built model's matmul weights + attention."""
    preset = zoo.get_preset(name)
    model = zoo.build(name, vocab_size=65)
    tied = model.get_config().get("tie_embeddings", False)
    weights = sum(
        math.prod(w.shape) for w in model.trainable_weights
        if len(w.shape) >= 2 and "position_embedding" not in w.path
        and (tied or "token_embedding" not in w.path)
    )
    config = preset.config
    attention = 0 if "cell" in config else (
        12 * config["num_layers"] * config["sequence_length"] * config["hidden_dim"])
    estimate = matmul_flops_per_token(config, 65)
    assert estimate == pytest.approx(6 * weights + attention, rel=0.02)


def test_bfloat16_trains_within_one_percent_of_float32(tmp_path):
    source = MarkovSource(order=2, alphabet_size=8, seed=3)
    corpus = source.corpus(num_train=60_000, num_validation=10_000, seed=4)
    task = LanguageModelingTask(corpus, build_tokenizer("char", corpus.split("train")),
                                sequence_length=64, sample_length=8)
    config = RunConfig(
        dataset="synthetic", batch_size=16, train_steps=150, learning_rate=3e-3,
        warmup_steps=10, eval_every=150, checkpoint_every=150,
        model_overrides={"num_layers": 2, "num_heads": 2, "hidden_dim": 64,
                         "intermediate_dim": 256, "position": "none", "rotary": True},
    )
    losses = {}
    for precision in ("none", "mixed_bfloat16"):
        run = dataclasses.replace(config, mixed_precision=precision, jit_compile=False)
        trainer = make_trainer(run, str(tmp_path / precision), task=task)
        assert trainer.precision.policy == ("float32" if precision == "none" else precision)
        losses[precision] = trainer.fit().validation["loss"]
    assert losses["mixed_bfloat16"] == pytest.approx(losses["none"], rel=0.01), losses
    assert losses["none"] < 0.8 * math.log(task.tokenizer.vocab_size)  # far below uniform
