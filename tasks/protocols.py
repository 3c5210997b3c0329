"""What tasks expect of the models they are given, written down as `typing.Protocol`s.

Tasks import no model code: any model with these attributes works, the zoo's backbones in
`zoo.models` or a user's own. Structural typing, so nothing needs to inherit from these.

    Backbone              token ids in, hidden states out: what a task puts its head on
    IncrementalBackbone   a Backbone that can also decode one step at a time (KV cache, RNN state)
    LanguageModel         ids in, float32 logits out, decoded step by step: what
                          `tasks.decoding.generate` drives and the LM signatures serve
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class TokenEmbedding(Protocol):
    def attend(self, hidden: Any) -> Any:
        """Hidden states [B, T, D] -> logits [B, T, vocab] with the token matrix (a tied head)."""


@runtime_checkable
class Backbone(Protocol):
    """A model body: `backbone(token_ids, ..., training=...)` -> hidden states [B, T, hidden_dim].

    Encoders also take `padding_mask` (and `segment_ids`); decoders with cross-attention take
    `encoder_outputs` and `encoder_padding_mask`.
    """

    hidden_dim: int
    vocab_size: int
    # True when position t sees only positions <= t (a decoder, an RNN): such a backbone needs
    # no padding mask for right-padded input, and a sequence is summarised at its last token.
    causal: bool

    def __call__(self, token_ids: Any, *args: Any, **kwargs: Any) -> Any: ...

    @property
    def token_embedding(self) -> TokenEmbedding:
        """The input embedding, for heads tied to it."""

    def head_initializers(self) -> dict:
        """Keyword arguments (kernel/bias initializers) for a new Dense head on this backbone."""


@runtime_checkable
class IncrementalBackbone(Backbone, Protocol):
    """A Backbone that generates: the decoding protocol at the level of hidden states.

    `initial_decoding_state(batch_size, max_length, source=None)` makes an empty state (a
    Transformer's key/value caches, an LSTM's zero state). A decoder that reads an encoded
    source gets it here, `source = (encoder_outputs, padding_mask)`, and computes everything it
    needs from it once (each layer's cross-attention keys and values), not at every step.
    `decode(token_ids [B, t], state, index)` runs t new tokens at absolute positions
    index..index+t-1 and returns (hidden states [B, t, hidden_dim], new state).
    Models with a bounded context expose `context_length`.
    """

    def initial_decoding_state(self, batch_size: Any, max_length: Any, source: Any = None): ...

    def decode(self, token_ids: Any, state: Any, index: Any) -> tuple[Any, Any]: ...


@runtime_checkable
class LanguageModel(Protocol):
    """What generation drives: `model(token_ids)` -> float32 logits [B, T, vocab_size], and

    `initial_decoding_state(batch_size, max_length)` / `decode(token_ids, state, index)` ->
    (float32 logits [B, t, vocab_size], state). `context_length`, when present, bounds the
    positions (the decoding loop slides its window past it).
    """

    vocab_size: int

    def __call__(self, token_ids: Any, *args: Any, **kwargs: Any) -> Any: ...

    def initial_decoding_state(self, batch_size: Any, max_length: Any): ...

    def decode(self, token_ids: Any, state: Any, index: Any) -> tuple[Any, Any]: ...
