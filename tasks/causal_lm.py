"""A language model: any backbone and a language-model head, ids in and next-token logits out."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tasks")
class CausalLM(keras.Model):
    """A backbone (hidden states) and a head that maps each position to next-token logits.

    The head is the backbone's token embedding transposed (`tie_embeddings`, Press & Wolf 2016),
    or a Dense layer started with the backbone's `head_initializers()`. Logits are always
    float32, so mixed-precision policies feed a float32 loss.

    It speaks the decoding protocol of `tasks.protocols.LanguageModel` when its backbone speaks
    the incremental one, and `call_with_state` (truncated BPTT) when the backbone is recurrent.

    Args:
        backbone: a `tasks.protocols.Backbone` of causal (left-to-right) hidden states.
        vocab_size: logits per position.
        tie_embeddings: project with the token embedding instead of a new matrix.
        head_bias: give the untied head a bias (Zaremba et al.'s softmax has one; GPT's not).

    Example:

    ```python
    backbone = zoo.models.TransformerDecoder(100, 32, num_layers=2, num_heads=2, hidden_dim=16)
    model = CausalLM(backbone, vocab_size=100)
    logits = model(np.array([[1, 2, 3]]))  # [1, 3, 100] float32
    ```
    """

    def __init__(
        self,
        backbone: keras.Model,
        vocab_size: int,
        tie_embeddings: bool = True,
        head_bias: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.vocab_size = vocab_size
        self.tie_embeddings = tie_embeddings
        self.head_bias = head_bias
        self.head = None
        if not tie_embeddings:
            self.head = keras.layers.Dense(
                vocab_size,
                use_bias=head_bias,
                dtype=backbone.dtype_policy,
                name="head",
                **backbone.head_initializers(),
            )

    def build(self, input_shape):
        self.backbone.build(input_shape)
        if self.head is not None:
            self.head.build((*input_shape, self.backbone.hidden_dim))

    def call(self, token_ids, training=None):
        return self.logits(self.backbone(token_ids, training=training))

    def logits(self, hidden):
        """Hidden states [..., D] -> float32 logits [..., vocab_size]."""
        if self.head is None:
            logits = self.backbone.token_embedding.attend(hidden)
        else:
            logits = self.head(hidden)
        return ops.cast(logits, "float32")

    def call_with_state(self, token_ids, states=None, training=None):
        """A recurrent backbone's truncated BPTT: (logits, new states) after `states`."""
        hidden, states = self.backbone.call_with_state(token_ids, states, training=training)
        return self.logits(hidden), states

    # The decoding protocol (tasks.protocols.LanguageModel).

    @property
    def context_length(self) -> int | None:
        return getattr(self.backbone, "context_length", None)

    def initial_decoding_state(self, batch_size, max_length=None):
        return self.backbone.initial_decoding_state(batch_size, max_length)

    def decode(self, token_ids, state, index):
        hidden, state = self.backbone.decode(token_ids, state, index)
        batch, steps = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        # The head on [B*t, D]: a plain matmul instead of a tensordot's shape arithmetic.
        logits = self.logits(ops.reshape(hidden, (-1, self.backbone.hidden_dim)))
        return ops.reshape(logits, (batch, steps, self.vocab_size)), state

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": serialize_backbone(self.backbone),
                "vocab_size": self.vocab_size,
                "tie_embeddings": self.tie_embeddings,
                "head_bias": self.head_bias,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

    def build_from_config(self, config):
        self.build(config["input_shape"])


def serialize_backbone(backbone: keras.Model) -> dict:
    """A backbone's config for its task model's config; the task model builds it, so the
    backbone's own build record (input shapes) is left out."""
    serialized = keras.saving.serialize_keras_object(backbone)
    serialized.pop("build_config", None)
    return serialized
