"""ELECTRA's pretraining model: a small masked-LM generator fills the masked positions with
its own samples, and the backbone (the discriminator) says of every token whether it was
replaced. The discriminator's backbone is what a fine-tuning run starts from."""

from __future__ import annotations

import keras
from keras import ops

from tasks.masked_lm.model import MaskedLM
from tasks.task_model import TaskModel, serialize_backbone


@keras.saving.register_keras_serializable(package="tasks")
class ReplacedTokenDetector(TaskModel):
    """A discriminator backbone, its per-token head, and a MaskedLM generator on a smaller
    backbone of the same kind (`generator_backbone`).

    `call(features)` reads BERT's masked-LM features (`token_ids` with [MASK]s, `padding_mask`,
    `mask_positions`, `mask_weights`, `original_ids`) and `sample_noise` [B, P], uniform in
    [0, 1): each masked position takes the generator token whose cumulative probability first
    passes its noise (a sample drawn by inverting the CDF, so the batch alone decides it and
    a resumed run draws what an uninterrupted one would). The sample carries no gradient. It
    returns {"mlm": generator logits [B, P, V], "rtd": discriminator logits [B, T],
    "replaced": [B, T] 1 where the input differs from the original}.

    Example:

    ```python
    encoder = zoo.models.TransformerEncoder(100, 16, 2, 2, 32)
    generator = zoo.models.TransformerEncoder(100, 16, 2, 1, 8)
    model = ReplacedTokenDetector(encoder, generator, vocab_size=100)
    ```
    """

    config_keys = ("vocab_size",)

    def __init__(self, backbone, generator_backbone, vocab_size: int, **kwargs):
        super().__init__(backbone, **kwargs)
        self.vocab_size = vocab_size
        self.generator = MaskedLM(generator_backbone, vocab_size, name="generator",
                                  dtype=generator_backbone.dtype_policy)
        width = backbone.hidden_dim
        self.rtd_dense = keras.layers.Dense(width, activation="gelu", name="rtd_dense",
                                            dtype=backbone.dtype_policy)
        self.rtd_logit = keras.layers.Dense(1, name="rtd_logit", dtype=backbone.dtype_policy)

    def get_config(self) -> dict:
        config = super().get_config()
        config["generator_backbone"] = serialize_backbone(self.generator.backbone)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["generator_backbone"] = keras.saving.deserialize_keras_object(
            config["generator_backbone"])
        return super().from_config(config)

    def build(self, input_shape):
        shape = input_shape["token_ids"] if isinstance(input_shape, dict) else input_shape
        self.backbone.build(shape)
        self.rtd_dense.build((*shape, self.backbone.hidden_dim))
        self.rtd_logit.build((*shape, self.backbone.hidden_dim))

    def call(self, features, training=None):
        positions, weights = features["mask_positions"], features["mask_weights"]
        generated = self.generator({"token_ids": features["token_ids"],
                                    "padding_mask": features["padding_mask"],
                                    "mask_positions": positions}, training=training)["mlm"]
        sampled = _inverse_cdf_sample(ops.stop_gradient(generated), features["sample_noise"])
        original = features["original_ids"]
        # Each masked position's sample, written into the original text (padding rows of
        # `positions` carry weight 0 and change nothing).
        at = ops.one_hot(positions, ops.shape(original)[1], dtype="float32")  # [B, P, T]
        at = at * ops.cast(weights, "float32")[..., None]
        chosen = ops.sum(at, axis=1) > 0
        written = ops.cast(ops.sum(at * ops.cast(sampled, "float32")[..., None], axis=1), "int32")
        corrupted = ops.where(chosen, written, original)
        hidden = self.backbone(corrupted, padding_mask=features["padding_mask"],
                               training=training)
        logits = ops.squeeze(self.rtd_logit(self.rtd_dense(hidden)), -1)
        return {"mlm": generated, "rtd": ops.cast(logits, "float32"),
                "replaced": ops.cast(corrupted != original, "float32")}


def _inverse_cdf_sample(logits, noise):
    """Token ids [B, P]: for each row of `logits` [B, P, V], the first id whose cumulative
    softmax probability exceeds `noise` [B, P]."""
    cdf = ops.cumsum(ops.softmax(ops.cast(logits, "float32"), axis=-1), axis=-1)
    below = ops.cast(cdf < ops.cast(noise, "float32")[..., None], "int32")
    return ops.minimum(ops.sum(below, axis=-1), ops.shape(logits)[-1] - 1)
