"""A stable per-client offset that spreads timers, so clients onboarded in one batch do not all
fall due in the same second.

It must be the same in every process and on every replay, so it comes from a keyed BLAKE2 hash
of the client id, never from Python's `hash()` (salted per process) or a random generator.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from domain.periods import Period

# Domain separation: this hash must not correlate with any other hash of the client id.
_PERSON = b"cc.jitter.v1"
# Temporal timers have millisecond resolution; finer offsets would be spread nobody sees.
_STEP = timedelta(milliseconds=1)


def client_offset(client_id: str, window: Period) -> timedelta:
    """An offset in [0, window), a whole number of milliseconds, fixed for the client."""
    slots = window.approx() // _STEP
    if slots <= 0:
        return timedelta(0)
    digest = hashlib.blake2b(client_id.encode(), digest_size=8, person=_PERSON).digest()
    # 2**64 against at most ~10**11 slots: the modulo bias is far below a millisecond's worth.
    return _STEP * (int.from_bytes(digest, "big") % slots)
