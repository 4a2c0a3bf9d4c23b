"""Every random stream's seed, derived in one place from the run's seed and a tag.

Stages and trainers never add magic offsets to the seed: they name their stream, so two
streams never collide by accident and a stream keeps its draws when others are added.
"""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *tags: object) -> int:
    """A 31-bit seed from (seed, *tags): stable across processes, platforms and Python versions."""
    digest = hashlib.sha256(repr((seed, *tags)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
