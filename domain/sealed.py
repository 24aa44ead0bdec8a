"""Sealed personal values: what a field sealed under its subject's own data key looks like.

A client's personal fields (name, phone, e-mail, address, ID number, full birth date, ...) are
sealed by the command layer before they enter a workflow (`projections.subject_keys`), each
under the client's data key, and travel as tokens inside otherwise readable payloads:

    pii:v1:<subject id>:<field>:<base64url of nonce, ciphertext and tag>

The subject id and the field name are in clear (ids are not personal data here; the field is
bound to the ciphertext as authenticated data, so a sealed phone cannot be moved into the name).
Erasure destroys the subject's key, after which no token of theirs can be opened anywhere it was
copied: histories, backups, exports. Shown, such a token reads `ERASED`.

This module is pure (the domain validates tokens; it never opens one): a token is a string of a
recognisable shape, so a model field may hold either the plaintext (histories recorded before
sealing, which must keep replaying) or a token, and its plaintext rules (a phone's shape, a
name's length) apply to plaintext only; the command layer checks them before it seals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

PREFIX = "pii:v1:"
ERASED = "[erased]"
"""What a value sealed under a destroyed key is shown as."""
SEALED = "[sealed]"
"""What a value is shown as by a tool that may not open it (the codec server)."""

# Longest token accepted: an 8,000-character text of 3-byte characters, base64url'd, with room.
MAX_TOKEN = 33_000
TOKEN = re.compile(
    r"pii:v1:(?P<subject>[A-Za-z0-9_-]{1,64}):(?P<field>[a-z][a-z0-9_.]{0,39}):"
    r"(?P<body>[A-Za-z0-9_-]{38,})"
)


@dataclass(frozen=True)
class Token:
    subject: str
    field: str
    body: str

    @property
    def header(self) -> str:
        """The token's clear part, authenticated with its ciphertext."""
        return f"{PREFIX}{self.subject}:{self.field}:"


def parse(value: object) -> Token | None:
    """The token `value` is, or None when it is anything else (plaintext included)."""
    if not isinstance(value, str) or not value.startswith(PREFIX) or len(value) > MAX_TOKEN:
        return None
    m = TOKEN.fullmatch(value)
    if m is None:
        return None
    return Token(m["subject"], m["field"], m["body"])


def is_sealed(value: object) -> bool:
    return parse(value) is not None


def tokens_in(value: Any) -> list[Token]:
    """Every token anywhere in a JSON-like value (dict keys are never tokens)."""
    out: list[Token] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            if (t := parse(v)) is not None:
                out.append(t)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)
        elif isinstance(v, list | tuple):
            for item in v:
                walk(item)

    walk(value)
    return out


def replace_tokens(value: Any, show: Any) -> Any:
    """`value` with every token `t` replaced by `show(t)` (a JSON-like copy)."""
    if isinstance(value, str):
        t = parse(value)
        return value if t is None else show(t)
    if isinstance(value, dict):
        return {k: replace_tokens(v, show) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [replace_tokens(v, show) for v in value]
    return value


@dataclass(frozen=True)
class Sealable:
    """The last metadata of a field that may hold a token: `Annotated[str, FreeText(...),
    Sealable()]`. A token passes as it is; anything else meets the rules before it. For a
    non-string value give its plaintext type (`Annotated[date | str, Sealable(date)]`): a token
    or a date, a date serialised as ISO text."""

    plain: Any = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        inner = handler(source) if self.plain is None else handler.generate_schema(self.plain)

        def check(value: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
            return value if is_sealed(value) else validate(value)

        if self.plain is None:
            return core_schema.no_info_wrap_validator_function(check, inner)
        return core_schema.no_info_wrap_validator_function(
            check,
            inner,
            serialization=core_schema.plain_serializer_function_ser_schema(_ser, info_arg=True),
        )


def _ser(value: Any, info: core_schema.SerializationInfo) -> Any:
    if info.mode_is_json() and hasattr(value, "isoformat"):
        return value.isoformat()
    return value
