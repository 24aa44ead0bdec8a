"""Free text a caller sends: the one rule every such field follows, wherever it enters.

PostgreSQL text and JSONB cannot hold NUL, so a NUL that got past validation used to make a
projection activity fail on every retry, for ever, wedging the workflow behind it. Other control
characters are refused with it: no legitimate name, title or note contains them, and they can
rewrite a terminal or a log line. Line breaks and tabs are allowed only where text may run to
several lines (`multiline`). The refusal names the rule, never the value (it may be personal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

# C0 controls, DEL and C1 controls. (Lone surrogates never get this far: pydantic refuses a
# string it cannot encode as UTF-8.)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class FreeText:
    """`Annotated[str, FreeText(max_length=200)]`: stripped of surrounding whitespace, within
    the lengths, and free of control characters (tab, line feed and carriage return allowed
    when `multiline`). The lengths live here, not in a `Field`, so pydantic's own length
    messages stay those of a string."""

    max_length: int
    min_length: int = 0
    multiline: bool = False
    pattern: str | None = None

    def __get_pydantic_core_schema__(
        self, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            self.check,
            core_schema.str_schema(
                strip_whitespace=True,
                min_length=self.min_length,
                max_length=self.max_length,
                pattern=self.pattern,
            ),
        )

    def check(self, value: str) -> str:
        if self.multiline:
            if _CONTROL_BUT_LINES.search(value):
                raise PydanticCustomError(
                    "control_character",
                    "must not contain control characters such as NUL "
                    "(line breaks and tabs are allowed)",
                )
        elif _CONTROL.search(value):
            raise PydanticCustomError(
                "control_character",
                "must be one line without control characters (such as NUL, tab or line break)",
            )
        return value


Line = Annotated[str, FreeText(max_length=500)]
"""A short single-line text: a name, a title, an industry, a reference."""
Lines = Annotated[str, FreeText(max_length=8000, multiline=True)]
"""Text that may run to several lines: a complaint, findings, notes."""
