"""A language model: any backbone and a language-model head, ids in and next-token logits out."""

from __future__ import annotations

import keras

from tasks.task_model import TaskModel, VocabularyLogits


@keras.saving.register_keras_serializable(package="tasks")
class CausalLM(VocabularyLogits, TaskModel):
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

    config_keys = ("vocab_size", "tie_embeddings", "head_bias")

    def __init__(
        self,
        backbone: keras.Model,
        vocab_size: int,
        tie_embeddings: bool = True,
        head_bias: bool = False,
        **kwargs,
    ):
        super().__init__(backbone, **kwargs)
        self.vocab_size = vocab_size
        self.tie_embeddings = tie_embeddings
        self.head_bias = head_bias
        self.add_vocabulary_head(vocab_size, tied=tie_embeddings, bias=head_bias)

    def build(self, input_shape):
        self.backbone.build(input_shape)
        self.build_vocabulary_head(input_shape)

    def call(self, token_ids, training=None):
        return self.logits(self.backbone(token_ids, training=training))

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
        return self.step_logits(hidden, token_ids), state

    def build_from_config(self, config):
        self.build(config["input_shape"])

