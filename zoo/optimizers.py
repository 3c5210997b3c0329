"""Optimizers and learning-rate schedules by name, as the run config asks for them."""

from __future__ import annotations

import keras
from keras import ops

from zoo.config import OPTIMIZERS, SCHEDULES, ConfigError, RunConfig

# Norms, biases and embeddings are not decayed (GPT-2/nanoGPT practice: decay only matmul kernels).
_NO_DECAY = ["bias", "gamma", "beta", "embeddings", "position_embeddings", "norm"]


@keras.saving.register_keras_serializable(package="zoo")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `peak`, then cosine decay to `final` at `decay_steps` (as nanoGPT).

    Kept rather than Keras' `CosineDecay(warmup_target=..., warmup_steps=...)`: its warmup gives
    step s the rate peak * s / warmup (0 at the first step), nanoGPT's and ours peak * (s + 1) /
    warmup; the cosine part is the same. Switching would change every run's numbers.
    """

    def __init__(self, peak: float, final: float, warmup_steps: int, decay_steps: int):
        self.peak = peak
        self.final = final
        self.warmup_steps = warmup_steps
        self.decay_steps = decay_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.peak * (step + 1) / max(self.warmup_steps, 1)
        span = max(self.decay_steps - self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
        cosine = self.final + 0.5 * (self.peak - self.final) * (1 + ops.cos(progress * 3.14159265))
        return ops.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self) -> dict:
        return dict(
            peak=self.peak,
            final=self.final,
            warmup_steps=self.warmup_steps,
            decay_steps=self.decay_steps,
        )


@keras.saving.register_keras_serializable(package="zoo")
class EpochDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant for `start_epoch` epochs, then multiplied by `rate` every epoch (Zaremba et al.).

    Epoch e (0-based) uses `initial * rate ** max(e + 1 - start_epoch, 0)`.
    """

    def __init__(self, initial: float, rate: float, start_epoch: int, steps_per_epoch: int):
        self.initial = initial
        self.rate = rate
        self.start_epoch = start_epoch
        self.steps_per_epoch = steps_per_epoch

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / self.steps_per_epoch)
        exponent = ops.maximum(epoch + 1 - self.start_epoch, 0.0)
        return self.initial * ops.power(self.rate, exponent)

    def get_config(self) -> dict:
        return dict(
            initial=self.initial,
            rate=self.rate,
            start_epoch=self.start_epoch,
            steps_per_epoch=self.steps_per_epoch,
        )


def learning_rate_schedule(
    config: RunConfig, total_steps: int, steps_per_epoch: int
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "cosine":
        warmup = config.warmup_steps
        if config.warmup_fraction is not None:
            warmup = round(config.warmup_fraction * total_steps)
        return WarmupCosineDecay(
            config.learning_rate, config.min_learning_rate, warmup, total_steps
        )
    if config.lr_schedule == "epoch_decay":
        return EpochDecay(
            config.learning_rate,
            config.lr_decay_rate,
            config.lr_decay_start_epoch,
            steps_per_epoch,
        )
    raise ConfigError(f"unknown lr_schedule {config.lr_schedule!r}; choose one of {SCHEDULES}")


def make_optimizer(
    config: RunConfig, total_steps: int, steps_per_epoch: int
) -> keras.optimizers.Optimizer:
    """The optimizer named by `config.optimizer`. Gradient clipping is the trainer's job: Keras
    clips each replica's gradients before its all-reduce, which is not global-norm clipping."""
    lr = learning_rate_schedule(config, total_steps, steps_per_epoch)
    name = config.optimizer
    if name == "adamw":
        opt = keras.optimizers.AdamW(
            lr, weight_decay=config.weight_decay, beta_1=config.beta_1, beta_2=config.beta_2
        )
        opt.exclude_from_weight_decay(var_names=_NO_DECAY)
    elif name == "adam":
        opt = keras.optimizers.Adam(lr, beta_1=config.beta_1, beta_2=config.beta_2)
    elif name == "sgd":
        opt = keras.optimizers.SGD(lr, weight_decay=config.weight_decay or None)
    elif name == "muon":
        # Muon orthogonalizes 2-D hidden kernels; Keras routes embeddings, norms and the output
        # layer to its internal AdamW, as the Muon authors recommend.
        opt = keras.optimizers.Muon(
            lr, weight_decay=config.weight_decay, adam_beta_1=config.beta_1,
            adam_beta_2=config.beta_2,
        )
    else:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if config.mixed_precision == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt
