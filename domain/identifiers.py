"""Identifiers that become part of workflow ids and search attributes: opaque references only,
never something personal such as a phone or resident ID number."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Opaque references only: these shapes are a mainland mobile number and a resident ID number,
# which would leak into workflow ids and search attributes if accepted as identifiers.
_MOBILE_LIKE = re.compile(r"^(?:86)?1[3-9]\d{9}$")
_RESIDENT_ID_LIKE = re.compile(r"^\d{17}[\dXx]$")


def safe_identifier(value: str) -> str:
    if not _SAFE_ID.match(value):
        raise ValueError(
            "an identifier must be 1-64 letters, digits, '-' or '_' (an opaque reference)"
        )
    if _MOBILE_LIKE.match(value) or _RESIDENT_ID_LIKE.match(value):
        raise ValueError(
            "an identifier must not be a phone or ID number; use the firm's client reference"
        )
    return value


ClientId = Annotated[str, AfterValidator(safe_identifier)]
"""Letters, digits, '-' and '_': it becomes part of a workflow id and a search attribute."""


def fresh_identifier(draw: Callable[[], str], attempts: int = 64) -> str:
    """An identifier the system makes up (a UUID's hex, say) that no rule here or in the log and
    outbox masking (`domain.personal_data.mask_text`) could take for a phone or ID number: about
    one random UUID in seventy holds a run of digits of that shape, which would then be refused
    at the outbox and masked in every log line."""
    from domain.personal_data import mask_text

    for _ in range(attempts):
        candidate = draw()
        try:
            safe_identifier(candidate)
        except ValueError:
            continue
        if mask_text(candidate) == candidate:
            return candidate
    raise ValueError("no identifier without a phone- or ID-like run could be drawn")
