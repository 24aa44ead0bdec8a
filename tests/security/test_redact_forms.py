"""The log masker against the forms personal data really takes: full-width characters, dots,
numbers glued to letters, Chinese e-mail and keys, pydantic's error dicts; and the allow-list
of loggable fields that keeps what the masker cannot recognise out of the logs."""

from __future__ import annotations

import ast
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from domain.personal_data import REDACTED, is_personal_key, mask_text
from infra.redact import LOGGABLE_KEYS, redact_processor
from infra.settings import ROOT


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("电话１３８００１３８０００", "13800138000"),
        ("call 138.0013.8000 today", "138.0013.8000"),
        ("tel13800138000", "13800138000"),
        ("TEL:+86-138-0013-8000", "138-0013-8000"),
        ("ID11010519491231002X", "11010519491231002X"),
        ("身份证 110105 1949 1231 002X", "1949 1231 002X"),
        ("id 110105.19491231.002X", "19491231.002X"),
        ("id 1101 0519 4912 3100 2X", "4912 3100"),
        ("身份证１１０１０５１９４９１２３１００２Ｘ", "11010519491231002"),
        ("mail li.lei＠example.com", "example.com"),
        ("邮箱：李雷@example.com", "李雷@"),
        ("座机（010）62345678", "62345678"),
        ("office 010.6234.5678", "6234.5678"),
        ("mobile 138\u200b0013\u200b8000", "0013"),
    ],
)
def test_realistic_forms_are_masked(text: str, hidden: str) -> None:
    masked = unicodedata.normalize("NFKC", mask_text(text))
    assert unicodedata.normalize("NFKC", hidden) not in masked.replace("\u200b", "")
    assert "<" in masked


@pytest.mark.parametrize(
    "key",
    ["clientName", "ClientName", "phoneNumber", "beneficiary_name", "beneficiaryName",
     "spouseName", "姓名", "电话", "手机号", "身份证号", "邮箱", "联系地址", "input",
     "mobileNo", "idCardNo", "CLIENT_NAME"],
)  # fmt: skip
def test_more_personal_keys(key: str) -> None:
    assert is_personal_key(key)


@pytest.mark.parametrize("key", ["activityName", "workflow_type", "task_queue", "templateName"])
def test_camel_case_operational_keys(key: str) -> None:
    assert not is_personal_key(key)


def test_a_field_not_on_the_allow_list_is_not_logged() -> None:
    event = {
        "event": "onboarded",
        "workflow_id": "client-c-1",
        "clientName": "王小明",
        "姓名": "王小明",
        "beneficiary_name": "Li Lei",
        "spouse": {"name": "Han Meimei"},
        "nickname_hint": "Xiaoming",
        "temporal_workflow": {"workflow_id": "client-c-1", "memo_name": "Li Lei"},
    }
    out = redact_processor(None, "info", dict(event))
    assert out["event"] == "onboarded" and out["workflow_id"] == "client-c-1"
    for key in ("clientName", "姓名", "beneficiary_name", "spouse", "nickname_hint"):
        assert out[key] == REDACTED, key
    assert out["temporal_workflow"] == {"workflow_id": "client-c-1", "memo_name": REDACTED}
    for secret in ("王小明", "Li Lei", "Han Meimei", "Xiaoming"):
        assert secret not in repr(out)


def test_pydantic_error_dicts_lose_their_input() -> None:
    class Body(BaseModel):
        count: int

    with pytest.raises(ValidationError) as err:
        Body.model_validate({"count": "王小明 李雷"})
    out = redact_processor(None, "warning", {"event": "refused", "errors": err.value.errors()})
    assert "王小明" not in repr(out)
    assert out["errors"][0]["loc"] == ["count"] and out["errors"][0]["type"] == "int_parsing"


def test_every_key_the_code_logs_is_on_the_allow_list() -> None:
    """Keys are found where the code logs: structlog keyword arguments, stdlib `extra=` dicts
    and the workflows' `_log()` helpers; a new key must be added to the list deliberately."""
    logged = _logged_keys()
    assert {"task_queue", "client_id", "template", "review_id"} <= logged  # the scan works
    assert sorted(logged - LOGGABLE_KEYS) == []


_LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "msg"}
_STDLIB_KWARGS = {"exc_info", "stack_info", "stacklevel", "extra"}


def _logged_keys() -> set[str]:
    keys: set[str] = set()
    for folder in ("activities", "workflows", "commands", "infra", "projections", "audit",
                   "reports", "simulation"):  # fmt: skip
        for path in (ROOT / folder).rglob("*.py"):
            keys |= _keys_in(path)
    for path in ROOT.glob("*.py"):
        keys |= _keys_in(path)
    return keys


def _keys_in(path: Path) -> set[str]:
    keys: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name == "_log":
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Dict):
                    keys |= _dict_keys(ret.value)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in _LOG_METHODS:
            continue
        for kw in node.keywords:
            if kw.arg == "extra" and isinstance(kw.value, ast.Dict):
                keys |= _dict_keys(kw.value)
            elif kw.arg is not None and kw.arg not in _STDLIB_KWARGS:
                keys.add(kw.arg)
    return keys


def _dict_keys(node: ast.Dict) -> set[str]:
    return {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}


# --- property: generated forms of phones, ID numbers and e-mails never survive -------------

_FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
_SEPARATORS = st.sampled_from(["", " ", ".", "-", "　", "．", "－", "\u200b"])
_GLUE = st.sampled_from(["", "tel", "Tel:", "ID", "No.", "手机", "身份证号", "电话：", "call "])
_TEXT = st.text(alphabet="客户请回电联系确认 abcxyz,.;:()，。", max_size=12)


@st.composite
def _phone(draw: st.DrawFn) -> tuple[str, str]:
    digits = "1" + draw(st.sampled_from("3456789")) + draw(st.from_regex(r"\A\d{9}\Z"))
    sep = draw(_SEPARATORS)
    form = draw(st.sampled_from(["plain", "3-4-4", "4-4-3"]))
    shaped = {
        "plain": digits,
        "3-4-4": sep.join([digits[:3], digits[3:7], digits[7:]]),
        "4-4-3": sep.join([digits[:4], digits[4:8], digits[8:]]),
    }[form]
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086", "86-"]))
    return digits, prefix + shaped


@st.composite
def _id_number(draw: st.DrawFn) -> tuple[str, str]:
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2024, 12, 31)))
    digits = (
        draw(st.from_regex(r"\A[1-6]\d{5}\Z"))
        + born.strftime("%Y%m%d")
        + draw(st.from_regex(r"\A\d{3}\Z"))
    )
    check = draw(st.sampled_from("0123456789Xx"))
    sep = draw(_SEPARATORS)
    groups = draw(st.sampled_from([(18,), (6, 8, 4), (6, 4, 4, 4), (4, 4, 4, 4, 2)]))
    full, parts, at = digits + check, [], 0
    for size in groups:
        parts.append(full[at : at + size])
        at += size
    return digits, sep.join(parts)


@st.composite
def _email(draw: st.DrawFn) -> tuple[str, str]:
    local = draw(st.text(alphabet="李雷韩梅abcdxyz._+-0123", min_size=1, max_size=10))
    local = local.strip("._+-") or "李"
    domain = draw(st.sampled_from(["example.com", "mail.example.cn", "例子.中国", "qq.com"]))
    at = draw(st.sampled_from(["@", "＠"]))
    return f"{local}@{domain}", f"{local}{at}{domain}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    secret=st.one_of(_phone(), _id_number()),
    full_width=st.booleans(),
    glue=_GLUE,
    before=_TEXT,
    after=_TEXT,
)
def test_generated_numbers_never_survive(
    secret: tuple[str, str], full_width: bool, glue: str, before: str, after: str
) -> None:
    digits, form = secret
    if full_width:
        form = form.translate(_FULL_WIDTH)
    masked = mask_text(f"{before}{glue}{form}{after}")
    remaining = re.sub(r"\D", "", unicodedata.normalize("NFKC", masked))
    # Only the digits of the number itself are in the text, so any 7 in a row of it are a leak.
    assert not any(digits[i : i + 7] in remaining for i in range(len(digits) - 6)), masked


@settings(max_examples=200, deadline=None)
@given(secret=_email(), before=_TEXT, after=st.sampled_from(["", " ", "。", "，请回复", ")"]))
def test_generated_emails_never_survive(secret: tuple[str, str], before: str, after: str) -> None:
    address, form = secret
    masked = unicodedata.normalize("NFKC", mask_text(f"{before} {form}{after}"))
    assert address not in masked and "@" not in masked, masked


@settings(max_examples=200, deadline=None)
@given(
    uuid=st.uuids(),
    when=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
    ),
    seq=st.integers(min_value=0, max_value=10**6),
    days=st.integers(min_value=0, max_value=40),
)
def test_operational_values_are_left_alone(uuid: UUID, when: datetime, seq: int, days: int) -> None:
    later = (when + timedelta(days=days)).date().isoformat()
    text = f"run {uuid} at {when.isoformat()} seq {seq} review {when.date()} {later}"
    assert mask_text(text) == text
