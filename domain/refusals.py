"""Refusal messages for invalid input: each bad field and the rule it broke, never the value
(a refused value may be personal data, and refusals reach logs and callers)."""

from __future__ import annotations

from pydantic import ValidationError


def field_problems(err: ValidationError, whole: str = "body") -> str:
    """`a.b: rule; c: rule`, with `whole` naming the input when the error is about all of it."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or whole}: {e['msg']}"
        for e in err.errors(include_url=False)
    )
