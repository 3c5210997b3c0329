"""A TensorFlow op error's cause in one line, for people: what both servers' clients and the CLIs
show instead of eager TensorFlow's "Graph execution error" and node traces."""

from __future__ import annotations

import re


def op_message(error: Exception) -> str:
    """The failed check's own message (a signature's InvalidArgument), else the op's message."""
    text = getattr(error, "message", None) or str(error)
    # "assertion failed: [<message>] [Condition x ...] ...": the message may hold brackets.
    found = re.search(r"assertion failed: \[(.*?)\](?= \[|\s*$)", text, re.M)
    if found:  # TensorFlow escapes the message's quotes as it formats the assertion
        return found.group(1).replace("\\'", "'")
    skip = ("Graph execution error", "Detected at node", "  File", "\t",
            "<stack traces unavailable>")
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith(skip)]
    message = lines[0] if lines else type(error).__name__
    return re.sub(r"\s*\[\[\{\{node [^}]*\}\}\]\].*$|\s*\[Op:__inference_\w+\]\s*$", "",
                  message).strip()
