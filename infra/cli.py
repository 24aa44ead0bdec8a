"""What `starter.py` and `auditor.py` share at the process edge: JSON read within bounds with a
clear message for each way it can be wrong, and output to a reader that may stop reading."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Any

MAX_BODY_BYTES = 1 << 20
"""A command body (`--json`, `--file`) is at most 1 MiB: the largest real one is a few KiB."""
MAX_BODY_DEPTH = 32
"""Arrays and objects nested at most this deep in a command body (real ones: about 4)."""
MAX_DIGITS = 64
"""Digits of one JSON integer; Python refuses to convert more than 4,300 with a bare
ValueError, and no amount, count or score has more than 20."""


class JsonInputError(ValueError):
    """Input that is not the JSON asked for; the message says what is wrong, never the value."""


def read_capped(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of a file; more is refused before anything is parsed."""
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise JsonInputError(f"is larger than {_size(limit)}")
    return data


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit / 1024:g} KiB"


def utf8(data: bytes | str) -> str:
    """Text that is valid UTF-8 (a `str` from the command line may carry undecodable bytes as
    surrogates)."""
    try:
        if isinstance(data, bytes):
            return data.decode("utf-8")
        data.encode("utf-8")
        return data
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise JsonInputError(f"is not UTF-8 text (bad byte at offset {exc.start})") from None


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise JsonInputError(f"holds an integer of more than {MAX_DIGITS} digits")
    return int(digits)


def _constant(name: str) -> Any:
    raise JsonInputError(f"holds {name}, which is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # Keys are field names; the last would silently win and the first be lost.
            raise JsonInputError(f"has the key {json.dumps(key)[:66]} twice in one object")
        out[key] = value
    return out


def loads(text: str, max_depth: int | None = None) -> Any:
    """Strict JSON (RFC 8259: no NaN or Infinity; no key twice in an object; integers of at most
    MAX_DIGITS digits), and when given, at most `max_depth` levels of nesting."""
    try:
        value = json.loads(
            text,
            parse_int=_integer,
            parse_constant=_constant,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise JsonInputError(_too_deep(max_depth)) from None
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if max_depth is not None and _depth(value) > max_depth:
        raise JsonInputError(_too_deep(max_depth))
    return value


def _too_deep(max_depth: int | None) -> str:
    return f"is nested more than {max_depth} levels deep" if max_depth else "is nested too deeply"


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level) for child in children)
    return deepest


def body_of(json_text: str | None, file: str | None) -> dict[str, Any]:
    """A command's body from `--json TEXT` or `--file PATH`: a JSON object within the bounds
    above, or {} when neither is given. Refusals name the option and what is wrong."""
    if file is not None:
        where = f"--file {file}"
        try:
            text = utf8(read_capped(Path(file), MAX_BODY_BYTES))
        except OSError as exc:
            raise JsonInputError(f"cannot read {where}: {exc.strerror}") from None
        except JsonInputError as exc:
            raise JsonInputError(f"{where} {exc}") from None
    elif json_text is not None:
        where = "--json"
        try:
            text = utf8(json_text)
            if len(text.encode("utf-8")) > MAX_BODY_BYTES:
                raise JsonInputError(f"is larger than {_size(MAX_BODY_BYTES)}")
        except JsonInputError as exc:
            raise JsonInputError(f"{where} {exc}") from None
    else:
        return {}
    if not text.strip():
        return {}
    try:
        value = loads(text, MAX_BODY_DEPTH)
    except JsonInputError as exc:
        raise JsonInputError(f"the body ({where}) {exc}") from None
    if not isinstance(value, dict):
        raise JsonInputError(f"the body ({where}) must be a JSON object")
    return value


def emit(text: str, stream: IO[str] | None = None) -> None:
    """Writes one answer and flushes it. A reader that stopped reading (`| head`) is not an error
    of the command: the rest of the output is dropped, quietly, and the exit status still says
    whether the command was applied."""
    stream = stream or sys.stdout
    try:
        stream.write(text + "\n")
        stream.flush()
    except BrokenPipeError:
        # The interpreter flushes the stream again at exit; pointing it at /dev/null keeps that
        # flush from failing too (and printing "Exception ignored ... BrokenPipeError").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
