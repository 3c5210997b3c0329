"""A clean start for every `python -m zoo.<verb>`: TensorFlow's C++ start-up chatter stays hidden.

TensorFlow 2.21 writes several lines straight to file descriptor 2 while it imports and first
probes for devices (absl's "All log messages before absl::InitializeLog()", oneDNN's notice, the
CUDA driver probe), whatever TF_CPP_MIN_LOG_LEVEL says. Those lines are written from C++, so
Python's `sys.stderr` cannot catch them: the descriptor itself is pointed at a temporary file
while TensorFlow starts, then restored. Known start-up notices are dropped; anything else that
was written is passed on, and if the import fails everything is shown with the error.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# Lines TensorFlow prints on every start on a machine without a GPU; none of them is an error.
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] .*"  # C++ INFO and WARNING lines
    r"|E\d{4} [\d:.]+ +\d+ \S+:\d+\] failed call to cuInit: .*"  # no CUDA driver: CPU only
    r")$"
)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and lists its devices with C++ start-up notices kept off stderr.

    On failure, prints all that TensorFlow wrote and a one-line reason, then exits with status 1
    (set ZOO_DEBUG=1 for the traceback).
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe prints here, not at import
            error = None
        except Exception as e:  # noqa: BLE001 - any failure to start TensorFlow is reported
            error = e
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        lines = capture.read().decode("utf-8", "replace").splitlines()
    if error is not None:
        _write(lines)
        if os.environ.get("ZOO_DEBUG"):
            raise error
        print(f"zoo: error: cannot start TensorFlow ({type(error).__name__}: {error})",
              file=sys.stderr)
        sys.exit(1)
    _write([line for line in lines if not _NOISE.match(line)])


def _write(lines: list[str]) -> None:
    if lines:
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
