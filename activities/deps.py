"""What activities get injected: nothing is reached through globals or settings at call time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from projections.crypto import FieldCipher


@dataclass(frozen=True)
class ActivityDeps:
    engine: Engine
    cipher: FieldCipher
