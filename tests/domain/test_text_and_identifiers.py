"""The two rules for what callers send: free text without control characters, identifiers
without a personal shape. Each refusal names the rule, never the value."""

from __future__ import annotations

import uuid
from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from domain.identifiers import Key, MatterRef, Ref, has_personal_shape
from domain.refusals import field_problems
from domain.text import FreeText, Line, Lines


class Sample(BaseModel):
    title: Line
    notes: Lines = ""
    name: Annotated[str, FreeText(min_length=1, max_length=5)] = "x"


@pytest.mark.parametrize("bad", ["a\x00b", "\x1b[2Jx", "a\x7fb", "a\x85b", "a\x9bb", "a\x0bb"])
@pytest.mark.parametrize("field", ["title", "notes"])
def test_control_characters_are_refused_by_field_name_without_the_value(
    bad: str, field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        Sample.model_validate({"title": "t", field: bad})
    message = field_problems(err.value)
    assert message.startswith(f"{field}: ") and "control characters" in message
    assert bad not in message and "\\x" not in message


def test_line_breaks_and_tabs_only_where_text_runs_to_lines() -> None:
    kept = Sample(title="t", notes="first line\r\n\tsecond line")
    assert kept.notes == "first line\r\n\tsecond line"
    for bad in ("two\nlines", "tab\tbed"):
        with pytest.raises(ValidationError) as err:
            Sample(title=bad)
        assert "one line" in field_problems(err.value)


def test_free_text_is_stripped_then_measured_as_a_string() -> None:
    assert Sample(title="  t  ", name=" 12345 ").name == "12345"
    with pytest.raises(ValidationError) as err:
        Sample(title="t", name="   ")
    assert field_problems(err.value) == "name: String should have at least 1 character"
    with pytest.raises(ValidationError) as err:
        Sample(title="t", name="123456")
    assert field_problems(err.value) == "name: String should have at most 5 characters"


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "8613800138000",
        "11010519491231002X",
        "110105194912310021",
        "02112345678",  # a landline with its area code
        "138-0013-8000",
        "138_0013_8000",
        "010-6234-5678",
        "6222-0212-3456-7890",  # a bank card
        "req:13800138000",
        "c_13800138000_2",
        "retry.11010519491231002x.1",
    ],
)
def test_personal_shapes_are_found_in_any_part_of_an_identifier(value: str) -> None:
    assert has_personal_shape(value)


@pytest.mark.parametrize(
    "value",
    [
        "c-1001",
        "CMP-2026-000123",
        "fee-table-v3",
        "adv-07",
        "im-3f9a0c1d2e4b5a67",
        "1380013800",  # ten digits: no phone
        "c138001380001",  # digits inside a longer part
        "2026-12-01",
        "20261201-120000-001",  # a timestamped request key
        "13800138-0000-4000-8000-021234567890",  # a UUID whose groups happen to be digits
        "req:13800138-0000-4000-8000-021234567890",
        *[uuid.uuid4().hex for _ in range(50)],
        *[str(uuid.uuid4()) for _ in range(50)],
    ],
)
def test_opaque_references_pass(value: str) -> None:
    assert not has_personal_shape(value)


class Ids(BaseModel):
    ref: Ref = "x"
    matter: MatterRef = "x"
    key: Key = "x"


@pytest.mark.parametrize("field", ["ref", "matter", "key"])
def test_every_identifier_type_applies_the_rule(field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Ids.model_validate({field: "13800138000"})
    message = field_problems(err.value)
    assert message.startswith(f"{field}: ") and "phone or ID number" in message
    assert "13800138000" not in message
