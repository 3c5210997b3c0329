"""A backbone with a classification head: token ids in, one score per class out."""

from __future__ import annotations

import keras
from keras import ops

from tasks.task_model import TaskModel

POOLINGS = ("cls", "mean", "last")


@keras.saving.register_keras_serializable(package="tasks")
class TextClassifier(TaskModel):
    """Pools the backbone's hidden states into one vector per text, then dropout and a Dense
    layer to `num_classes` float32 logits.

    Pooling fits the backbone: "cls", the first position (an encoder's [CLS], through its
    pooler when it has one); "mean", the
    average over real positions; "last", the last real position (what a causal Transformer or
    an LSTM has read the whole text by). A causal backbone is called without the padding mask
    (right padding never reaches earlier positions); an encoder gets it.

    `call(features)` reads `token_ids` and `padding_mask` [B, T].

    Example:

    ```python
    model = TextClassifier(zoo.models.TransformerEncoder(100, 16, 2, 2, 16), num_classes=2)
    logits = model({"token_ids": ids, "padding_mask": mask})  # [B, 2]
    ```
    """

    config_keys = ("num_classes", "pooling", "dropout")

    def __init__(self, backbone, num_classes: int, pooling: str = "cls", dropout: float = 0.1,
                 **kwargs):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        super().__init__(backbone, **kwargs)
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=backbone.dtype_policy)
        self.head = keras.layers.Dense(
            num_classes, dtype=backbone.dtype_policy, name="classifier",
            **backbone.head_initializers(),
        )

    def build(self, input_shape):
        shape = input_shape["token_ids"] if isinstance(input_shape, dict) else input_shape
        self.backbone.build(shape)
        self.head.build((shape[0], self.backbone.hidden_dim))

    def call(self, features, training=None):
        ids, mask = features["token_ids"], features["padding_mask"]
        if getattr(self.backbone, "causal", False):
            hidden = self.backbone(ids, training=training)
        else:
            hidden = self.backbone(ids, padding_mask=mask, training=training)
        pooled = self.pool(hidden, mask)
        return ops.cast(self.head(self.dropout_layer(pooled, training=training)), "float32")

    def pool(self, hidden, mask):
        if self.pooling == "cls":  # through the backbone's pooler where it has one (BERT's)
            pooled = getattr(self.backbone, "pooled", None)
            return hidden[:, 0] if pooled is None else pooled(hidden)
        mask = ops.cast(mask, hidden.dtype)
        if self.pooling == "mean":
            total = ops.sum(hidden * mask[:, :, None], axis=1)
            return total / ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)
        last = ops.maximum(ops.cast(ops.sum(mask, axis=1), "int32") - 1, 0)
        return ops.take_along_axis(hidden, last[:, None, None], axis=1)[:, 0]
