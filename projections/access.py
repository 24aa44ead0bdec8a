"""The access record (PIPL): who read or erased a client's personal data, when, and why.

Every path that turns ciphertext into clear text for a person - the auditor's decrypted
history, the codec server, an erasure - writes a row *before* it reveals anything, so a read
that could not be recorded does not happen (fail closed).
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from domain.identifiers import has_personal_shape
from domain.personal_data import mask_text
from projections.tables import access_log


class AccessAction:
    """The actions written to `access_log.action` (free strings are allowed; these are ours)."""

    HISTORY_DECRYPT = "history-decrypt"  # auditor.py history: a decrypted timeline
    PROJECTION_REBUILD = "projection-rebuild"  # auditor.py rebuild/verify: decrypts inputs
    CODEC_DECODE = "codec-decode"  # the codec server decrypted payloads for the UI or CLI
    CODEC_ENCODE = "codec-encode"  # the codec server encrypted payloads someone sent it
    PROFILE_READ = "profile-read"  # a client file opened for a person
    WORKLIST_VIEW = "worklist-view"  # the codec server's worklist listed a workflow to a person
    ERASE = "erase"  # PIPL deletion


class AccessLogError(ValueError):
    pass


def _limit(column: str) -> int:
    length = access_log.c[column].type.length  # type: ignore[attr-defined]
    return int(length)


def _checked(column: str, value: str | None, *, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise AccessLogError(f"access_log.{column} is required")
        return None
    value = value.strip()
    if len(value) > _limit(column):
        raise AccessLogError(f"access_log.{column} is longer than {_limit(column)} characters")
    return value


_CLAIM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")


def current_actor(claimed: str | None = None) -> str:
    """Who is at the keyboard of a command-line tool, as the access record names them.

    A name someone gives (`--actor`, else CLIENT_CARE_ACTOR) is a claim, not a proof: it must be
    a staff reference (1-40 letters, digits and ._:-, no shape of a phone or ID number), and the
    operating-system account that ran the tool is recorded beside it (`staff:S-1024|os:alice`),
    so a row never rests on free text alone. Without a claim, the account alone (`os:alice`).
    """
    account = f"os:{getpass.getuser()}"
    claim = claimed if claimed is not None else os.environ.get("CLIENT_CARE_ACTOR")
    if not claim:
        return account[: _limit("actor")]
    if not _CLAIM.match(claim) or has_personal_shape(claim):
        raise AccessLogError(
            "the actor must be a staff reference (1-40 letters, digits and ._:-, such as "
            "staff:S-1024), not a name or free text"
        )
    return f"{claim}|{account}"[: _limit("actor")]


def record_access(
    conn: Connection,
    actor: str,
    action: str,
    client_id: str | None = None,
    workflow_id: str | None = None,
    purpose: str | None = None,
) -> None:
    """Appends one access_log row in the caller's transaction.

    `purpose` is free text and so is masked and cut to the column's width; the other fields are
    identifiers and are refused, not cut, when they do not fit.
    """
    if purpose is not None:
        purpose = mask_text(purpose.strip())
        limit = _limit("purpose")
        if len(purpose) > limit:
            purpose = purpose[: limit - 1] + "…"
    conn.execute(
        access_log.insert().values(
            actor=_checked("actor", actor, required=True),
            action=_checked("action", action, required=True),
            client_id=_checked("client_id", client_id),
            workflow_id=_checked("workflow_id", workflow_id),
            purpose=purpose or None,
            at=datetime.now(UTC),
        )
    )


@contextmanager
def access_recorded(
    engine: Engine,
    actor: str,
    action: str,
    *,
    client_id: str | None = None,
    workflow_id: str | None = None,
    purpose: str | None = None,
) -> Iterator[None]:
    """`with access_recorded(engine, actor, AccessAction.HISTORY_DECRYPT, workflow_id=wf):` —
    the row is committed in its own transaction before the body decrypts anything, and stays
    even if the body fails (an attempted read is still a read)."""
    with engine.begin() as conn:
        record_access(conn, actor, action, client_id, workflow_id, purpose)
    yield
