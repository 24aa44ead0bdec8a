"""Identifiers the system makes up never look like a phone or ID number."""

from __future__ import annotations

import random
import uuid

import pytest

from domain.identifiers import fresh_identifier
from domain.personal_data import mask_text, mask_value

# A real UUID hex whose digits hold a landline-like run: masked in logs, refused at the outbox.
PHONE_LIKE = "4a0423335836e87b74180357950bb04d"


def test_a_phone_like_uuid_is_drawn_again() -> None:
    assert mask_value("complaint_id", PHONE_LIKE) != PHONE_LIKE  # what the outbox refuses
    drawn = iter([PHONE_LIKE, "11010519491231002X", "0a1b2c3d4e5f"])
    assert fresh_identifier(lambda: next(drawn)) == "0a1b2c3d4e5f"


def test_thousands_of_fresh_uuids_all_pass_the_masking_untouched() -> None:
    rng = random.Random(7)
    ids = [fresh_identifier(lambda: uuid.UUID(int=rng.getrandbits(128)).hex) for _ in range(5000)]
    assert all(mask_text(i) == i and mask_value("complaint_id", i) == i for i in ids)


def test_a_source_that_only_draws_personal_shapes_is_refused() -> None:
    with pytest.raises(ValueError, match="no identifier"):
        fresh_identifier(lambda: "13800138000", attempts=3)
