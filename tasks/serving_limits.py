"""`ServingLimits`, the request caps an export carries: plain data, importable without
TensorFlow (`zoo.export` checks its flags with it first); `tasks.request_checks` enforces them."""

from __future__ import annotations

import dataclasses

from tasks.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class ServingLimits:
    """What one request may ask of an exported model; its signatures refuse more with
    InvalidArgument (the limit in the message), so that no request can keep a server busy for
    long, on TF Serving as on `zoo.serve` (`zoo.export --max_batch ...` sets them).

    Attributes:
        max_batch: texts (prompts, sources) in one request.
        max_generate_tokens: new tokens one request may ask for, all its rows (and beams)
            together.
        max_input_tokens: tokens one request may send, all its texts together.
    """

    max_batch: int = 64
    max_generate_tokens: int = 8192
    max_input_tokens: int = 1 << 16

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_generate_tokens", "max_input_tokens"):
            if getattr(self, name) < 1:
                raise DataError(f"{name} must be >= 1, got {getattr(self, name)}")
