"""Progress through a known number of items (texts decoded, questions answered) for work that
runs long outside the training loop, such as a final evaluation that decodes a whole split.

On a terminal: Keras' live bar. Into a file or pipe: a line after the first batch (with the
ETA it implies, so a long evaluation says early how long it will take) and at about every
10% after, so a log gets a dozen lines, not thousands.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import keras


class ItemProgress:
    """`update(done)` after each batch of `total` items; `what` names them ("texts (greedy)")."""

    LINES = 10

    def __init__(self, total: int, what: str, stream: TextIO | None = None):
        self.total, self.what = total, what
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty()
        self.began = time.time()
        self.next_line = 0  # the item count at which a file gets its next line
        self.bar = keras.utils.Progbar(total, unit_name=what.split()[0],
                                       verbose=1 if self.interactive else 0)

    def update(self, done: int) -> None:
        if self.interactive:
            self.bar.update(done)
            return
        if done < self.next_line and done < self.total:
            return
        elapsed = time.time() - self.began
        eta = (self.total - done) * elapsed / max(done, 1)
        when = f"ETA {_duration(eta)}" if done < self.total else f"in {_duration(elapsed)}"
        print(f"{done:,}/{self.total:,} {self.what}, {when}", file=self.stream, flush=True)
        step = max(1, self.total // self.LINES)
        self.next_line = (done // step + 1) * step


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
