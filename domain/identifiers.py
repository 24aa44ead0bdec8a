"""Identifiers a caller chooses: opaque references only, never something personal.

They become workflow ids, update ids, search attributes and key columns, all stored and shown in
clear, so every one of them - client, complaint, matter, event, staff, department, measure and
request ids - follows one rule (`opaque`): no part of it is a phone, ID or card number as
`domain.personal_data` knows them. A part is the whole value (`138-0013-8000`, also written
`138_0013_8000`) or any piece between separators (`req:13800138000`). Digits glued to letters
(`c13800138000`) and a UUID's groups are not looked into: random hex may hold such a run. An
all-digit part is refused when it has a number's shape, so a generated id should not end in a
random slice that may be all digits (`c-0839546569`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

from domain.personal_data import UUID_SHAPE, is_personal_number

_SEPARATORS = re.compile(r"[-_.:]")
_AS_DASHES = str.maketrans("_:", "--")
PERSONAL_SHAPE = (
    "must not have the shape of a phone or ID number (identifiers are stored in clear); "
    "use an opaque reference such as the firm's own"
)


def has_personal_shape(value: str) -> bool:
    dashed = value.translate(_AS_DASHES)  # the separators people write numbers with
    # A UUID's groups are random hex: one that happens to be all digits is no phone number.
    pieces = _SEPARATORS.split(UUID_SHAPE.sub("-", value))
    return any(is_personal_number(part) for part in {value, dashed, *pieces})


def opaque(value: str) -> str:
    if has_personal_shape(value):
        raise PydanticCustomError("personal_shape", PERSONAL_SHAPE)
    return value


_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_KEY = re.compile(KEY_PATTERN)


def safe_identifier(value: str) -> str:
    """A client or event id: it becomes part of a workflow id and a search attribute."""
    if not _CLIENT_ID.match(value):
        raise ValueError(
            "an identifier must be 1-64 letters, digits, '-' or '_' (an opaque reference)"
        )
    return opaque(value)


def key(value: str) -> str:
    """A caller's key (request id, measure id), checked outside a model."""
    if not _KEY.match(value):
        raise ValueError("must be 1-64 letters, digits and ._:- (starting with a letter or digit)")
    return opaque(value)


ClientId = Annotated[str, AfterValidator(safe_identifier)]
"""Letters, digits, '-' and '_': a client or event id."""
Ref = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=REF_PATTERN), AfterValidator(opaque)
]
"""A complaint, staff member or department id: no spaces, no e-mail addresses, no colon (the
matter registry's workflow id uses it as a separator)."""
MatterRef = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=REF_PATTERN),
    AfterValidator(opaque),
]
"""The reference repeat complaints merge on: a product code, order or case reference."""
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN), AfterValidator(opaque)]
"""A caller's key, such as an improvement measure id: a colon is allowed."""


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
