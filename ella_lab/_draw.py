"""Seeded draws that depend only on their key, never on which thread asks or in what order."""

from __future__ import annotations

from hashlib import blake2b

_SCALE = 2.0**-64


def draw(seed: int, *key: object) -> float:
    """A number in [0, 1) fixed by ``(seed, *key)``: the same key gives the same number in any process.

    Keys are hashed through ``repr``, so use requests with a stable repr (str, int, tuple of those).
    """
    digest = blake2b(repr((seed, *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") * _SCALE
