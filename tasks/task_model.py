"""What every task model shares: a backbone it serializes with itself, and an output layer over
the vocabulary (the token embedding transposed, or its own Dense layer).

A task model is keras-hub's idea of a task: a head on a backbone, built from sizes and options,
saved by `get_config`. Subclasses name their own arguments in `config_keys` and get
`get_config`/`from_config` from here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
from keras import ops


def serialize_backbone(backbone: keras.Model) -> dict:
    """A backbone's config for its task model's config; the task model builds it, so the
    backbone's own build record (input shapes) is left out."""
    serialized = keras.saving.serialize_keras_object(backbone)
    serialized.pop("build_config", None)
    return serialized


class TaskModel(keras.Model):
    """A keras.Model holding `self.backbone`; `config_keys` are the constructor arguments, besides
    the backbone, that its config records (each stored as an attribute of the same name)."""

    config_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, backbone: keras.Model, **kwargs: Any):
        super().__init__(**kwargs)
        self.backbone = backbone

    def get_config(self) -> dict:
        config = super().get_config()
        config["backbone"] = serialize_backbone(self.backbone)
        config.update({key: getattr(self, key) for key in self.config_keys})
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


class VocabularyLogits:
    """Hidden states -> float32 logits over the vocabulary, for a TaskModel with `self.backbone`.

    `add_vocabulary_head` makes the output layer: none when tied (`tie_embeddings`, Press & Wolf
    2016: the backbone's token embedding transposed), else a Dense layer named "head", started
    with the backbone's `head_initializers()`, with a bias when `bias` (Zaremba's softmax layer
    has one, GPT's none). It is an attribute of the model itself, so Keras tracks its weights.
    """

    def add_vocabulary_head(self, vocab_size: int, *, tied: bool, bias: bool = False) -> None:
        self.head = None
        if not tied:
            self.head = keras.layers.Dense(
                vocab_size, use_bias=bias, dtype=self.backbone.dtype_policy, name="head",
                **self.backbone.head_initializers(),
            )

    def build_vocabulary_head(self, ids_shape) -> None:
        if self.head is not None:
            self.head.build((*ids_shape, self.backbone.hidden_dim))

    def logits(self, hidden):
        """Hidden states [..., D] -> float32 logits [..., vocab_size]."""
        if self.head is None:
            logits = self.backbone.token_embedding.attend(hidden)
        else:
            logits = self.head(hidden)
        return ops.cast(logits, "float32")

    def step_logits(self, hidden, token_ids):
        """The head on decoding steps: hidden [B, t, D] as a plain [B*t, D] matmul (no
        tensordot shape arithmetic), back to logits [B, t, vocab]."""
        batch, steps = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        logits = self.logits(ops.reshape(hidden, (-1, self.backbone.hidden_dim)))
        return ops.reshape(logits, (batch, steps, self.vocab_size))
