"""What activities get injected: nothing is reached through globals or settings at call time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from projections.crypto import FieldCipher


@dataclass(frozen=True)
class ActivityDeps:
    engine: Engine
    cipher: FieldCipher

    def __post_init__(self) -> None:
        # The subject keys live beside the read models: unless the cipher was given its own
        # (a KMS), it opens subject-sealed values with the keys in this database.
        if self.cipher.subjects is None:
            from projections.subject_keys import PgSubjectKeys, Sealer

            self.cipher.subjects = Sealer(PgSubjectKeys(self.engine, self.cipher.ring))
