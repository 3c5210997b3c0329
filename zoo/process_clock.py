"""How long this process has run, for the Time: line (light: imported first by `zoo`)."""

from __future__ import annotations

import os
import time

# When `zoo` was first imported: just after the interpreter's start, before TensorFlow's.
IMPORTED_AT = time.time()
EXEC_SLACK_SECONDS = 5.0


def seconds_since_process_start() -> float:
    """Wall seconds since this process started (Linux: from /proc; elsewhere since `zoo` was
    imported, which follows the interpreter's start by well under a second).

    A shell may exec the last command of `bash -c "a && b && python ..."` in its own process,
    whose start time is then the shell's: a start more than EXEC_SLACK_SECONDS before the import
    is taken to be such a one, and the import time is used instead."""
    since_import = time.time() - IMPORTED_AT
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            started_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:  # to 10 ms (btime is whole seconds)
            since_boot = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return since_import
    since_start = since_boot - started_ticks / os.sysconf("SC_CLK_TCK")
    return since_start if since_start - since_import < EXEC_SLACK_SECONDS else since_import
