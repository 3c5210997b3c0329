"""An encoder with a span head: start and end logits for every position of a window."""

from __future__ import annotations

import keras
from keras import ops

from tasks.question_answering.windows import NEG
from tasks.task_model import TaskModel


@keras.saving.register_keras_serializable(package="tasks")
class SpanExtractor(TaskModel):
    """BERT's SQuAD head: one Dense layer maps each hidden state to a start and an end logit.

    `call(features)` reads `token_ids`, `segment_ids`, `padding_mask` and `context_mask`
    [B, T] and returns float32 `(start_logits, end_logits)` [B, T]. Positions outside the
    passage get NEG, except [CLS] (position 0), where a window without the answer points.

    Example:

    ```python
    model = SpanExtractor(zoo.models.TransformerEncoder(100, 32, 2, 2, 16, num_segments=2))
    start, end = model({"token_ids": ids, "segment_ids": segments, "padding_mask": mask,
                        "context_mask": passage})
    ```
    """

    def __init__(self, backbone, **kwargs):
        super().__init__(backbone, **kwargs)
        self.head = keras.layers.Dense(2, dtype=backbone.dtype_policy, name="span_head",
                                       **backbone.head_initializers())

    def build(self, input_shape):
        shape = input_shape["token_ids"] if isinstance(input_shape, dict) else input_shape
        self.backbone.build(shape)
        self.head.build((shape[0], shape[1], self.backbone.hidden_dim))

    def call(self, features, training=None):
        ids = features["token_ids"]
        segments = (features["segment_ids"] if getattr(self.backbone, "segment_embedding", None)
                    else None)
        hidden = self.backbone(ids, padding_mask=features["padding_mask"],
                               segment_ids=segments, training=training)
        logits = ops.cast(self.head(hidden), "float32")
        first = ops.arange(ops.shape(ids)[1]) == 0
        allowed = ops.logical_or(ops.cast(features["context_mask"], "bool"), first[None, :])
        logits = ops.where(allowed[:, :, None], logits, NEG)
        return logits[:, :, 0], logits[:, :, 1]
