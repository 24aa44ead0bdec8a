"""The log masker: personal data under its keys, and the shapes of contact and identity numbers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from domain.personal_data import is_personal_key, mask_text, mask_value
from infra.redact import redact_processor


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("call 13812345678 today", "13812345678"),
        ("电话13812345678，请回电", "13812345678"),  # glued to Chinese text: no word boundary
        ("mobile +86 138-1234-5678", "138-1234-5678"),
        ("mobile +8613812345678", "8613812345678"),
        ("mobile 0086 138 1234 5678", "138 1234 5678"),
        ("office 010-62345678", "62345678"),
        ("office (021) 6234 5678", "6234 5678"),
        ("London +44 20 7946 0958", "7946 0958"),
        ("mail li.lei+care@example.com.cn now", "li.lei+care@example.com.cn"),
        ("身份证号11010519491231002X。", "11010519491231002X"),
        ("id 11010519491231002x", "11010519491231002x"),
        ("id 110105 19491231 002X", "110105 19491231 002X"),
        ("card 6222 0212 3456 7890 123", "6222 0212 3456 7890"),
        ("card 6222021234567890", "6222021234567890"),
        ("old id 110105491231002", "110105491231002"),
    ],
)
def test_numbers_and_addresses_are_masked(text: str, hidden: str) -> None:
    masked = mask_text(text)
    assert hidden not in masked
    assert "<" in masked


@pytest.mark.parametrize(
    "text",
    [
        "2027-03-15T10:00:00+08:00",
        "review 2027-03-15 2027-06-15",
        "run 0193a5c2-7d1e-7cc0-9f1e-446655440000",
        "workflow complaint-CP-20270315-0001 seq 42",
        "aum 12500000.00 contribution 30000",
        "epoch ms 1735689600000",
        "tier gold -> platinum",
    ],
)
def test_ordinary_operational_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


@pytest.mark.parametrize(
    "key",
    ["name", "Name", "client_name", "complainant_name", "phone", "contact_phone", "email",
     "home-address", "id_number", "passport", "birth_date", "content", "findings", "basic"],
)  # fmt: skip
def test_personal_keys(key: str) -> None:
    assert is_personal_key(key)


@pytest.mark.parametrize(
    "key",
    ["activity_name", "logger", "template", "workflow_id", "tier", "event", "channel", "purpose"],
)
def test_operational_keys(key: str) -> None:
    assert not is_personal_key(key)


def test_nested_structures_models_and_odd_types() -> None:
    class Basic(BaseModel):
        name: str
        phone: str

    @dataclass
    class Contact:
        email: str

    value = {
        "client_id": "C-1",
        "file": {"basic": {"name": "王小明"}, "notes": ["x"], "ref": "call 13812345678"},
        "model": Basic(name="王小明", phone="13812345678"),
        "dc": Contact(email="a@b.cn"),
        "raw": b"13812345678",
        "as_int": 13812345678,
        "count": 3,
        "when": datetime(2027, 1, 1, tzinfo=UTC),
    }
    masked = mask_value("payload", value)
    assert masked["client_id"] == "C-1"
    assert masked["file"]["basic"] == "<redacted>"
    assert masked["file"]["notes"] == "<redacted>"
    assert masked["file"]["ref"] == "call <phone>"
    assert masked["model"] == {"name": "<redacted>", "phone": "<redacted>"}
    assert masked["dc"] == {"email": "<redacted>"}
    assert masked["raw"] == "<11 bytes>"
    assert masked["as_int"] == "<phone>"
    assert masked["count"] == 3 and masked["when"] == value["when"]
    assert "王小明" not in repr(masked) and "13812345678" not in repr(masked)


def test_pydantic_errors_lose_the_input_they_echo() -> None:
    class Body(BaseModel):
        count: int

    with pytest.raises(ValidationError) as err:
        Body.model_validate({"count": "王小明 13812345678"})
    masked = mask_text(str(err.value))
    assert "王小明" not in masked and "input_value=<redacted>" in masked
    assert "input_type=str" in masked


def test_the_processor_masks_tracebacks_and_keeps_structlog_bookkeeping() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise ValueError("no client with phone 13812345678")
    except ValueError as exc:
        event = {
            "event": "mail a@b.cn",
            "exc_info": exc,
            "complainant": {"name": "王小明"},
            "_record": record,
        }
    out = redact_processor(None, "error", event)
    assert "exc_info" not in out
    assert "ValueError: no client with phone <phone>" in out["exception"]
    assert out["event"] == "mail <email>"
    assert out["complainant"] == "<redacted>"
    assert out["_record"] is record
