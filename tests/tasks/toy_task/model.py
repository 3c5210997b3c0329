"""The toy task's head: two logits from the hidden state of the first position."""

from __future__ import annotations

import keras
from keras import ops

from tasks.task_model import TaskModel


class FirstTokenClassifier(TaskModel):
    """Reads `token_ids` [B, T]; a causal backbone's first position has seen the first letter."""

    def __init__(self, backbone, **kwargs):
        super().__init__(backbone, **kwargs)
        self.head = keras.layers.Dense(2, dtype=backbone.dtype_policy, name="classifier",
                                       **backbone.head_initializers())

    def build(self, input_shape):
        self.backbone.build(input_shape)
        self.head.build((input_shape[0], self.backbone.hidden_dim))

    def call(self, token_ids, training=None):
        hidden = self.backbone(token_ids, training=training)
        return ops.cast(self.head(hidden[:, 0]), "float32")
