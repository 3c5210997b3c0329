"""An encoder with BERT's pretraining heads: masked-token prediction, and optionally NSP."""

from __future__ import annotations

import keras
import keras_hub
from keras import ops

from tasks.task_model import TaskModel


@keras.saving.register_keras_serializable(package="tasks")
class MaskedLM(TaskModel):
    """A bidirectional backbone with keras-hub's `MaskedLMHead` tied to its token embedding.

    `call(features)` reads `token_ids`, `padding_mask`, `mask_positions` [B, P] (and
    `segment_ids`) and returns float32 logits over the vocabulary at the masked positions,
    {"mlm": [B, P, vocab]}, plus {"nsp": [B, 2]} (is sentence B the one after A?) when
    `next_sentence=True`: a tanh pooler on [CLS] and a two-way classifier, as BERT has.

    Example:

    ```python
    model = MaskedLM(zoo.models.TransformerEncoder(100, 16, 2, 2, 16), vocab_size=100)
    out = model({"token_ids": ids, "padding_mask": mask, "mask_positions": positions})
    ```
    """

    config_keys = ("vocab_size", "next_sentence")

    def __init__(self, backbone, vocab_size: int, next_sentence: bool = False, **kwargs):
        super().__init__(backbone, **kwargs)
        self.vocab_size = vocab_size
        self.next_sentence = next_sentence
        initializers = backbone.head_initializers()
        self.mlm_head = keras_hub.layers.MaskedLMHead(
            vocabulary_size=vocab_size,
            token_embedding=backbone.token_embedding.token_embedding,
            intermediate_activation="gelu",
            # BERT's head normalizes with the encoder's epsilon (1e-12), not keras-hub's 1e-5:
            # with 1e-5, a transformers BertForMaskedLM's logits differed by 8e-5 after import.
            layer_norm_epsilon=getattr(backbone, "layer_norm_epsilon", 1e-5),
            kernel_initializer=initializers.get("kernel_initializer", "glorot_uniform"),
            # Under a mixed policy keras-hub's head adds its float32 bias to half-precision
            # logits and fails (AddV2 dtype mismatch); in float32 it works, and the tied output
            # projection still runs in the backbone's precision (the embedding layer's policy).
            dtype="float32",
            name="mlm_head",
        )
        self.pooler = self.nsp_head = None
        if next_sentence:
            self.pooler = keras.layers.Dense(
                backbone.hidden_dim, activation="tanh", dtype=backbone.dtype_policy,
                name="pooler", **initializers,
            )
            self.nsp_head = keras.layers.Dense(
                2, dtype=backbone.dtype_policy, name="nsp_head", **initializers
            )

    def build(self, input_shape):
        shape = input_shape["token_ids"] if isinstance(input_shape, dict) else input_shape
        self.backbone.build(shape)
        hidden = (*shape, self.backbone.hidden_dim)
        self.mlm_head.build(hidden)
        if self.next_sentence:
            self.pooler.build((shape[0], self.backbone.hidden_dim))
            self.nsp_head.build((shape[0], self.backbone.hidden_dim))

    def call(self, features, training=None):
        hidden = self.backbone(
            features["token_ids"],
            padding_mask=features.get("padding_mask"),
            segment_ids=features.get("segment_ids"),
            training=training,
        )
        logits = self.mlm_head(hidden, mask_positions=features["mask_positions"])
        out = {"mlm": ops.cast(logits, "float32")}
        if self.next_sentence:
            pooled = self.pooler(hidden[:, 0])
            out["nsp"] = ops.cast(self.nsp_head(pooled), "float32")
        return out
