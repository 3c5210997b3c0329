"""What every checkpoint format is read into: one family's tensors by Hugging Face's names."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tasks.data.errors import DataError


class SourceError(DataError):
    """A checkpoint that cannot be read or is not one the zoo can hold; the message says why."""


@dataclasses.dataclass(frozen=True)
class RunTask:
    """The zoo task an imported checkpoint's run is.

    name: the task ("causal_lm", "masked_lm", "text_classification").
    fresh: {weight path prefix: what it is} for parts the checkpoint lacks (a BertModel has no
        masked-LM head, a BertForMaskedLM no pooler): those weights start new, as
        `transformers` starts them when it loads such a checkpoint into a bigger model; any
        other missing weight is an error.
    labels: a classifier's class names, in the order of its logits.
    """

    name: str
    fresh: dict[str, str] = dataclasses.field(default_factory=dict)
    labels: tuple[str, ...] | None = None


@dataclasses.dataclass
class Source:
    """A checkpoint, read.

    family: "gpt2" or "bert" (the model families zoo.convert maps).
    config: its Hugging Face config (`config.json`'s keys, e.g. n_layer, n_embd for GPT-2).
    tensors: float32 arrays by their Hugging Face name, without the "transformer." prefix a
        GPT2LMHeadModel puts on them (h.0.attn.c_attn.weight, wte.weight...).
    tokenizer: a `tasks.data.Tokenizer` made from the checkpoint's vocabulary files.
    origin: what was read, for messages and the run's record.
    """

    family: str
    config: dict[str, Any]
    tensors: dict[str, np.ndarray]
    tokenizer: Any
    origin: str

    def tensor(self, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The tensor `name`, checked against `shape` when one is given."""
        if name not in self.tensors:
            raise SourceError(f"{self.origin}: no tensor {name!r} (is it a {self.family} "
                              "checkpoint of the shape its config says?)")
        value = self.tensors[name]
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise SourceError(f"{self.origin}: {name} has shape {tuple(value.shape)}, "
                              f"the config implies {tuple(shape)}")
        return value
