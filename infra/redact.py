"""Masks personal data (names, phones, emails, ID and card numbers) before anything is logged.

Two nets: values under personal keys are dropped whole (a name cannot be recognised by its
shape), and every other string is scanned for the shapes of contact and identity numbers.
Free text that merely mentions a name is out of reach of both; that is why personal data must
only ever be logged under its key, if at all.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import BaseModel

REDACTED = "<redacted>"

PERSONAL_KEYS = frozenset(
    {
        # people
        "name", "full_name", "first_name", "last_name", "given_name", "family_name",
        "surname", "nickname", "complainant", "basic", "profile", "contact", "contacts",
        # contact details
        "phone", "phone_number", "mobile", "telephone", "tel", "email", "address",
        # identity and money
        "id_number", "id_card", "id_no", "identity_number", "passport", "passport_number",
        "birth_date", "birthday", "date_of_birth", "dob", "bank_card", "card_number",
        "card_no", "account_number", "account_no", "iban", "financial",
        # free text written by or about a client
        "content", "comment", "comments", "findings", "evidence", "note", "notes", "remark",
        "remarks", "measures", "outcome_text", "free_text", "body",
    }
)  # fmt: skip
# `<anything>_phone`, `client_email`, ...: these last words always mean personal data.
_PERSONAL_SUFFIXES = (
    "_phone", "_mobile", "_email", "_address", "_id_number", "_id_card", "_passport",
    "_birth_date", "_birthday", "_card_number", "_account_number",
)  # fmt: skip
# `_name` is personal only after a word for a person (`activity_name`, `logger_name` are not).
_PERSON_WORDS = frozenset(
    {"client", "customer", "complainant", "contact", "advisor", "handler", "user", "person",
     "holder", "spouse", "child", "employee", "staff", "supervisor", "owner"}
)  # fmt: skip

_NB = r"(?<![0-9A-Za-z])"  # not glued to other ASCII letters/digits (Chinese text around is fine)
_NA = r"(?![0-9A-Za-z])"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # pydantic validation errors echo the offending input; drop it whatever it is
    (re.compile(r"input_value=.*?(?=, input_type=)"), "input_value=" + REDACTED),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "<email>"),
    # resident identity card: 18 characters, last may be X; also written 6-8-4 with separators
    (re.compile(_NB + r"\d{6}[ -]?\d{8}[ -]?\d{3}[\dXx]" + _NA), "<id-number>"),
    # bank cards: 16-19 digits, plain or in groups of four; 15 digits (first-generation IDs)
    (re.compile(_NB + r"\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?" + _NA), "<card-number>"),
    (re.compile(_NB + r"\d{15,19}" + _NA), "<number>"),
    # mainland mobiles, with or without +86 / 0086, as 11 digits or 3-4-4
    (re.compile(_NB + r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}" + _NA), "<phone>"),
    # landlines with an area code: 010-12345678, (021) 6234 5678
    (re.compile(_NB + r"(?:\(0\d{2,3}\)|0\d{2,3})[ -]?\d{3,4}[ -]?\d{4}" + _NA), "<phone>"),
    # any other number written internationally
    (re.compile(r"(?<![\w+])\+\d{1,3}(?:[ -]?\d){6,14}" + _NA), "<phone>"),
]
_PLAIN_TYPES = (bool, float, Decimal, datetime, date, time, timedelta, UUID, Enum)
_MAX_DEPTH = 8


def mask_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_personal_key(key: str) -> bool:
    k = key.strip().lower().replace("-", "_").replace(" ", "_")
    if k in PERSONAL_KEYS or k.endswith(_PERSONAL_SUFFIXES):
        return True
    head, _, last = k.rpartition("_")
    return last == "name" and head.rsplit("_", 1)[-1] in _PERSON_WORDS


def mask_value(key: str, value: Any, _depth: int = 0) -> Any:
    if not is_personal_key(key):
        return _mask_any(value, _depth)
    empty = value is None or (isinstance(value, str | list | tuple | dict) and not value)
    return value if empty else REDACTED


def _mask_any(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, int):
        # a phone or card number logged as an int is still a phone or card number
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if depth >= _MAX_DEPTH:
        return "<nested>"
    if isinstance(value, BaseModel):
        return _mask_any(value.model_dump(mode="json"), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _mask_any(dataclasses.asdict(value), depth + 1)
    if isinstance(value, Mapping):
        return {str(k): mask_value(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_any(v, depth + 1) for v in value]
    return mask_text(str(value))


def _format_exc_info(exc_info: Any) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or len(exc_info) != 3 or exc_info[0] is None:
        return None
    return "".join(traceback.format_exception(*exc_info))


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last line of defence, run on every event, ours or Temporal's.

    A traceback is rendered and masked here rather than by a later renderer: exception messages
    often echo their input, and rich tracebacks would print local variables.
    """
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        rendered = _format_exc_info(exc_info)
        if rendered:
            event_dict["exception"] = rendered
    for key in list(event_dict):
        if key.startswith("_"):  # structlog's bookkeeping (`_record`, `_from_structlog`)
            continue
        event_dict[key] = mask_value(key, event_dict[key])
    return event_dict
