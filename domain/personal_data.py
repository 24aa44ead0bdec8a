"""What personal data looks like: the keys it is kept under and the shapes of contact and
identity numbers, for masking it wherever text leaves the service (logs, the access record's
purpose, notification params).

Matching runs on the NFKC form (full-width digits, letters, `＠`, `（）` and ideographic spaces
become ASCII) without invisible format characters (zero-width spaces, joiners), and finds
numbers glued to letters (`tel13800138000`, `ID11010519491231002X`). Keys are guessed from
their words in snake, camel or kebab case, English or Chinese; where the keys are ours to
choose (log events) an allow-list does better, see `infra.redact`.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Mapping
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
        # what pydantic's errors echo back: the offending value and its context
        "input", "input_value", "ctx",
    }
)  # fmt: skip
# `<anything>_phone`, `client_email`, ...: these last words always mean personal data.
_PERSONAL_SUFFIXES = (
    "_phone", "_mobile", "_email", "_address", "_id_number", "_id_card", "_passport",
    "_birth_date", "_birthday", "_card_number", "_account_number",
)  # fmt: skip
# `mobile_no`, `id_card_num`: a personal key with a word for "number" after it
_NUMBER_WORDS = ("_no", "_num", "_number")
# `_name` is personal only after a word for a person (`activity_name`, `logger_name` are not).
_PERSON_WORDS = frozenset(
    {"client", "customer", "complainant", "contact", "advisor", "handler", "user", "person",
     "holder", "spouse", "child", "employee", "staff", "supervisor", "owner", "beneficiary",
     "insured", "policyholder", "applicant", "guardian", "parent", "partner", "member",
     "recipient", "payee", "payer", "heir", "family", "emergency", "referrer", "relative"}
)  # fmt: skip
# Chinese keys: any of these words anywhere in the key (`客户姓名`, `联系电话`, `手机号`)
_PERSONAL_WORDS_ZH = (
    "姓名", "名字", "名称", "电话", "手机", "座机", "身份证", "证件", "邮箱", "邮件", "地址",
    "住址", "生日", "出生", "银行卡", "卡号", "账号", "账户", "护照", "联系人", "联系方式",
    "备注", "内容", "说明",
)  # fmt: skip

_S = r"[ .\-]"  # separators people write numbers with (full-width forms are normalised first)


def _spaced(*parts: str) -> str:
    """Pieces of a number, each of which may be followed by one separator."""
    return f"{_S}?".join(parts)


_DIGIT = r"\d"
# resident identity card: region, birth date, sequence, check character; a separator may
# stand anywhere (6-8-4, 6-4-4-4, 4-4-4-4-2, dotted): the birth date keeps dates and cards out
_ID_NUMBER = _spaced(
    *[_DIGIT] * 6,
    r"(?:1" + _S + r"?9|2" + _S + r"?0)",
    _DIGIT,
    _DIGIT,
    r"(?:0" + _S + r"?[1-9]|1" + _S + r"?[0-2])",
    r"(?:[0-2]" + _S + r"?\d|3" + _S + r"?[01])",
    *[_DIGIT] * 3,
    r"[\dXx]",
)
_NB = r"(?<!\d)"  # whole numbers only; letters may touch them (`tel13800138000`, `ID1101…`)
_NA = r"(?!\d)"
_MOBILE_PREFIX = rf"(?:(?:\+|00)?86{_S}?)?"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # pydantic validation errors echo the offending input; drop it whatever it is
    (re.compile(r"input_value=.*?(?=, input_type=)"), "input_value=" + REDACTED),
    # local parts and domains in any script (`李雷@例子.中国`)
    (re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(_NB + _ID_NUMBER + _NA), "<id-number>"),
    # bank cards: 16-19 digits, plain or in groups of four; 15 digits (first-generation IDs)
    (re.compile(_NB + rf"\d{{4}}(?:{_S}\d{{4}}){{3}}(?:{_S}?\d{{1,3}})?" + _NA), "<card-number>"),
    (re.compile(_NB + r"\d{15,19}" + _NA), "<number>"),
    # mainland mobiles, with or without +86 / 0086 / 86, as 11 digits, 3-4-4 or 4-4-3
    (re.compile(_NB + _MOBILE_PREFIX + rf"1[3-9]\d(?:{_S}?\d{{4}}){{2}}" + _NA), "<phone>"),
    (re.compile(_NB + _MOBILE_PREFIX + rf"1[3-9]\d{{2}}{_S}?\d{{4}}{_S}?\d{{3}}" + _NA), "<phone>"),
    # landlines with an area code: 010-12345678, (021) 6234 5678, 010.6234.5678
    (
        re.compile(_NB + rf"(?:\(0\d{{2,3}}\)|0\d{{2,3}}){_S}?\d{{3,4}}{_S}?\d{{4}}" + _NA),
        "<phone>",
    ),
    # any other number written internationally
    (re.compile(rf"(?<![\d+])\+\d{{1,3}}(?:{_S}?\d){{6,14}}" + _NA), "<phone>"),
]
# Run ids and other UUIDs are operational and may hold digit runs that look like a number.
UUID_SHAPE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_PLAIN_TYPES = (bool, float, Decimal, datetime, date, time, timedelta, UUID, Enum)
_MAX_DEPTH = 8


def _normalise(text: str) -> str:
    """NFKC (full-width digits, letters, `＠`, `（`, ideographic spaces become ASCII) without
    the invisible format characters (zero-width spaces, joiners) that can split a number."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def mask_text(text: str) -> str:
    """The text unchanged if it holds nothing personal, else its normalised form, masked."""
    normal = _normalise(text)
    pieces, at = [], 0
    for uuid in UUID_SHAPE.finditer(normal):
        pieces += [_mask_shapes(normal[at : uuid.start()]), uuid.group()]
        at = uuid.end()
    pieces.append(_mask_shapes(normal[at:]))
    masked = "".join(pieces)
    return text if masked == normal else masked


def _mask_shapes(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_WHOLE_SHAPES = frozenset({"<email>", "<id-number>", "<card-number>", "<number>", "<phone>"})


def is_personal_number(text: str) -> bool:
    """Whether the text, all of it, is an e-mail address or a phone, ID or card number."""
    return _mask_shapes(_normalise(text)) in _WHOLE_SHAPES


def _snake(key: str) -> str:
    key = unicodedata.normalize("NFKC", key).strip()
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", key)
    return re.sub(r"[\s.\-]+", "_", key).lower()


def is_personal_key(key: str) -> bool:
    """A guess from the key's words, in snake, camel or kebab case, English or Chinese."""
    k = _snake(key)
    if any(word in k for word in _PERSONAL_WORDS_ZH):
        return True
    for number in _NUMBER_WORDS:
        if k.endswith(number) and k != number:
            k2 = k.removesuffix(number)
            if k2 in PERSONAL_KEYS or k2.endswith(_PERSONAL_SUFFIXES):
                return True
    if k in PERSONAL_KEYS or k.endswith(_PERSONAL_SUFFIXES):
        return True
    head, _, last = k.rpartition("_")
    return last == "name" and head.rsplit("_", 1)[-1] in _PERSON_WORDS


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict) and not value)


def mask_value(key: str, value: Any, _depth: int = 0) -> Any:
    """Outside logs: a value under a personal-looking key dropped, any other shape-masked."""
    if not is_personal_key(key):
        return mask_nested(value, _depth, mask_value)
    return value if is_empty(value) else REDACTED


Entry = Callable[[str, Any, int], Any]


def mask_nested(value: Any, depth: int, entry: Entry) -> Any:
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
        return mask_nested(value.model_dump(mode="json"), depth + 1, entry)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return mask_nested(dataclasses.asdict(value), depth + 1, entry)
    if isinstance(value, Mapping):
        return {str(k): entry(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_nested(v, depth + 1, entry) for v in value]
    return mask_text(str(value))
