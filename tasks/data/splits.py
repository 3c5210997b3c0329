"""Seeded splits by hashing: a row lands in the same split on every machine, in any row order,
and copies of one text never straddle two splits."""

from __future__ import annotations

import hashlib


def hash_fraction(key: str, seed: int) -> float:
    """Where `key` falls in [0, 1): the first 8 bytes of sha256("seed <seed>: <key>")."""
    digest = hashlib.sha256(f"seed {seed}: {key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
