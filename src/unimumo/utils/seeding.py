"""Deterministic seeds for the loader: every random choice is derived from named parts, never from global state."""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object) -> int:
    """A 64-bit seed that depends only on `parts` (stable across processes and Python runs)."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
