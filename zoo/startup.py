"""A clean console for every `python -m zoo.<verb>`: TensorFlow's C++ chatter stays hidden.

TensorFlow 2.21 writes lines straight to file descriptor 2 while it imports and first probes for
devices (absl's "All log messages before absl::InitializeLog()", oneDNN's notice, the CUDA driver
probe), whatever TF_CPP_MIN_LOG_LEVEL says, and a few notices while it runs ("oneDNN supports
DT_INT64 only on platforms with AVX-512", printed on CPUs that have it). Those come from C++, so
Python's `sys.stderr` cannot catch them: the descriptor itself is pointed at a pipe, and a thread
passes on every line but the known notices to the real stderr. Everything else, Python tracebacks
and real C++ errors included, goes through unchanged; if the import fails, the reason is shown.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# Lines TensorFlow prints on a machine without a GPU; none of them is an error.
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+ +\d+ \S+\.(cc|h):\d+\] .*"  # C++ INFO and WARNING lines (not absl's)
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler "
    r"flags\."  # the second line of cpu_feature_guard.cc's INFO notice
    r"|E\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\] (failed call to cuInit: .*"  # no CUDA: CPU only
    r"|oneDNN supports DT_INT64 only on platforms with AVX-512\. .*)"  # a spurious notice
    r")$"
)


def is_noise(line: str) -> bool:
    return bool(_NOISE.match(line))


class _StderrFilter:
    """File descriptor 2 through a pipe; a thread forwards all but the noise to the real one."""

    def __init__(self) -> None:
        sys.stderr.flush()
        self.real = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self.reader = os.fdopen(read, "rb", buffering=0)
        self.thread = threading.Thread(target=self._forward, name="stderr-filter", daemon=True)
        self.thread.start()
        atexit.register(self.close)

    def _forward(self) -> None:
        pending = b""
        while True:
            chunk = self.reader.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line for line in lines if not is_noise(line.decode("utf-8", "replace"))]
            if kept:
                os.write(self.real, b"\n".join(kept) + b"\n")
        if pending:
            os.write(self.real, pending)

    def close(self) -> None:
        """Restores file descriptor 2 and waits for the thread to pass on what is left."""
        sys.stderr.flush()
        os.dup2(self.real, 2)  # the pipe's last writer is gone: the thread reads to its end
        self.thread.join(timeout=5)


_installed: list[_StderrFilter] = []


def install_stderr_filter() -> None:
    """Points file descriptor 2 through the filter (once a process); cheap, and it imports
    nothing, so an entry point installs it first and loads TensorFlow only when it must."""
    if not _installed:
        _installed.append(_StderrFilter())


def exit_now(code: int = 0) -> None:
    """Ends the process at once, its output flushed: the interpreter's own teardown (every
    graph and tensor TensorFlow holds, freed one by one) takes a second or more and buys a
    finished command nothing. Only for a command whose files are all written and closed."""
    sys.stdout.flush()
    sys.stderr.flush()
    for stderr_filter in _installed:
        stderr_filter.close()
    os._exit(code)


def import_tensorflow_quietly() -> None:
    """Installs the stderr filter, imports TensorFlow and lists its devices.

    On failure, prints a one-line reason after whatever TensorFlow wrote, and exits with
    status 1 (set ZOO_DEBUG=1 for the traceback).
    """
    if "tensorflow" in sys.modules:
        return
    install_stderr_filter()
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe prints here, not at import
    except Exception as error:  # noqa: BLE001 - any failure to start TensorFlow is reported
        if os.environ.get("ZOO_DEBUG"):
            raise
        print(f"zoo: error: cannot start TensorFlow ({type(error).__name__}: {error})",
              file=sys.stderr, flush=True)
        sys.exit(1)
