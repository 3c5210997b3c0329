"""How to generate, as plain data: `SamplingConfig` and its checks, importable without
TensorFlow (a command line checks its sampling flags before loading it). `tasks.decoding`
generates with it."""

from __future__ import annotations

import dataclasses

MAX_NEW_TOKENS_CAP = 1024  # the most new tokens one call may ask for (bounds a request's cost)


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """How to generate, as plain JSON-serializable data (export defaults, CLI flags).

    The field names are `generate`'s keyword arguments:
    `generate(model, ids, lengths, **dataclasses.asdict(config))`.
    """

    max_new_tokens: int = 100
    # nanoGPT's sample.py defaults: a sample worth reading (greedy loops on a phrase).
    temperature: float = 0.8  # 0 = greedy
    top_k: int = 200  # 0 = off; k >= the vocabulary size keeps every token
    top_p: float = 1.0  # 1 = off
    seed: int = 0
    num_beams: int = 1
    no_repeat_ngram_size: int = 0
    stop_token_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # JSON gives lists; a tuple keeps the config hashable and comparable.
        object.__setattr__(self, "stop_token_ids", tuple(int(t) for t in self.stop_token_ids))
        check_ranges(self.max_new_tokens, self.temperature, self.top_k, self.top_p)
        check_loop_options(self.num_beams, self.no_repeat_ngram_size, self.stop_token_ids, None)


def check_ranges(max_new_tokens: int, temperature: float, top_k: int, top_p: float) -> None:
    """A ValueError for a per-row parameter out of range (the messages `generate` gives for
    tensors); written so that NaN fails too."""
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS_CAP:
        raise ValueError(f"max_new_tokens must be in 1..{MAX_NEW_TOKENS_CAP}")
    if not temperature >= 0:
        raise ValueError("temperature must be >= 0 (0 is greedy)")
    if not top_k >= 0:
        raise ValueError("top_k must be >= 0 (0 is off)")
    if not 0 < top_p <= 1:
        raise ValueError("top_p must be in (0, 1] (1 is off)")


def check_loop_options(num_beams, no_repeat_ngram_size, stop_token_ids, vocab_size):
    """The options that shape the decoding loop itself: Python values, checked now."""
    if not _is_int(num_beams) or num_beams < 1:
        raise ValueError(f"num_beams must be a Python int >= 1, got {num_beams!r}")
    if not _is_int(no_repeat_ngram_size) or no_repeat_ngram_size < 0:
        raise ValueError(
            f"no_repeat_ngram_size must be a Python int >= 0, got {no_repeat_ngram_size!r}"
        )
    stops = tuple(int(t) for t in stop_token_ids)
    limit = vocab_size if vocab_size is not None else 2**31 - 1
    if any(not 0 <= t < limit for t in stops):
        raise ValueError(f"stop_token_ids must be token ids in 0..{limit - 1}, got {stops}")
    return int(num_beams), int(no_repeat_ngram_size), stops


def _is_int(value) -> bool:
    """A Python or NumPy integer (not a bool), without importing NumPy."""
    return hasattr(value, "__index__") and not isinstance(value, bool)
