"""How every `python -m zoo.<verb>` behaves on bad input: one line on stderr, exit status 2.

Tracebacks are for bugs. Problems the user can fix (unknown names, missing or unreadable data, bad
settings) are raised as `ConfigError`/`DataError` and reported as a single line; set ZOO_DEBUG=1
to see the traceback anyway.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from absl import app, flags, logging

from tasks.data import DataError
from zoo.config import ConfigError

USER_ERRORS = (ConfigError, DataError, FileNotFoundError, NotADirectoryError)


def run(main: Callable[[list[str]], None], prog: str) -> None:
    """`absl.app.run(main)`, with user errors turned into a one-line message and exit status 2."""

    def guarded(argv: list[str]) -> None:
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines drown our output
        try:
            main(argv)
        except USER_ERRORS as e:
            if os.environ.get("ZOO_DEBUG"):
                raise
            message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
            sys.exit(2)

    app.run(guarded)


def op_error_message(error: Exception) -> str:
    """A TensorFlow op error's cause in one line (see `zoo.serving.op_errors`)."""
    from zoo.serving.op_errors import op_message

    return op_message(error)
