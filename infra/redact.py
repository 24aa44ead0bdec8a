"""Masks personal data (names, phones, emails, ID numbers) before anything is logged."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

PERSONAL_KEYS = frozenset(
    {
        "name",
        "phone",
        "email",
        "address",
        "id_number",
        "birth_date",
        "complainant",
        "basic",
        "content",
        "comment",
        "findings",
    }
)
_PATTERNS = [
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b\d{17}[\dXx]\b"), "<id-number>"),
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)"), "<phone>"),
    (re.compile(r"(?<!\d)\+?\d[\d -]{7,}\d(?!\d)"), "<phone>"),
]


def mask_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask_value(key: str, value: Any) -> Any:
    if key.lower() in PERSONAL_KEYS:
        return "<redacted>"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(key, v) for v in value]
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last line of defence, run on every event, ours or Temporal's."""
    for key in list(event_dict):
        event_dict[key] = mask_value(key, event_dict[key])
    return event_dict
