"""The command layer's sealing on its own: what it seals, what it leaves readable, what it does for
a client whose key was destroyed, and how the codec server shows tokens it may not open."""

from __future__ import annotations

import base64
import json

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from google.protobuf import json_format
from sqlalchemy import Engine
from temporalio.api.common.v1 import Payload

from commands.base import CommandError
from commands.sealing import seal_changes, seal_file, seal_intake
from domain.client import ClientFile
from domain.complaint import ComplaintIntake
from domain.enums import Tier
from domain.sealed import ERASED, SEALED, is_sealed
from infra.codec import EncryptionCodec
from infra.codec_server import make_app
from infra.keys import KeyRing
from projections.subject_keys import PgSubjectKeys, Sealer
from tests.workflows.test_client_support import client_body
from workflows.client_service.models import BasicChanges

TOKEN = "codec-test-token-" + "z" * 24


def test_what_is_sealed_and_what_stays_readable(db: Engine, keyring: KeyRing) -> None:
    sealer = Sealer(PgSubjectKeys(db, keyring))
    body = client_body("c-s1", Tier.GOLD)
    body["basic"] |= {"address": "Road 1", "id_number": "11010519491231002X"}
    body["basic"] |= {"birth_date": "1949-12-31", "occupation": "teacher"}
    file = seal_file(sealer, ClientFile.model_validate(body))
    b = file.basic
    for value in (b.name, b.phone, b.email, b.address, b.id_number, b.occupation, b.birth_date):
        assert is_sealed(value)
    assert b.birth_month_day == "12-31" and b.gender == "female"
    assert file.metrics == ClientFile.model_validate(body).metrics, "figures stay readable"
    assert seal_file(sealer, file) == file, "a token is never sealed twice"
    opened = sealer.reveal(file.model_dump(mode="json"))["basic"]
    assert opened["phone"] == "+8613800138000" and opened["birth_date"] == "1949-12-31"

    with pytest.raises(CommandError) as bad:
        seal_changes(sealer, "c-s1", BasicChanges(email="not an address"))
    assert bad.value.message.startswith("update: basic.email") and "not an address" not in str(
        bad.value.message
    )
    changed = seal_changes(sealer, "c-s1", BasicChanges(birth_date=None))
    assert changed.model_dump() == {"birth_date": None, "birth_month_day": None}


def test_an_erased_client_is_not_onboarded_again_and_its_complaints_keep_no_person(
    db: Engine, keyring: KeyRing
) -> None:
    sealer = Sealer(PgSubjectKeys(db, keyring))
    file = ClientFile.model_validate(client_body("c-gone", Tier.GOLD))
    seal_file(sealer, file)
    assert sealer.keys.destroy("c-gone")
    with pytest.raises(CommandError) as refused:
        seal_file(sealer, file)
    assert "erased" in refused.value.message and "new client id" in refused.value.message
    intake = ComplaintIntake.model_validate(
        {
            "client_id": "c-gone",
            "channel": "hotline",
            "content": "about the fees",
            "complainant": {"name": "Someone", "phone": "13800138000"},
        }
    )
    kept = seal_intake(sealer, intake)
    assert kept.content == "[erased]" and kept.complainant.name == "[erased]"
    assert kept.complainant.phone is None


async def test_the_codec_server_shows_tokens_as_sealed_or_erased(
    db: Engine, keyring: KeyRing
) -> None:
    sealer = Sealer(PgSubjectKeys(db, keyring))
    live = sealer.seal(sealer.keys.create("c-live"), "name", "Live Person")
    gone = sealer.seal(sealer.keys.create("c-dead"), "name", "Gone Person")
    codec = EncryptionCodec(keyring)
    doc = {"live": live, "gone": gone, "tier": "gold"}
    payload = codec.encrypt(
        Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(doc).encode())
    )

    async def erased(subjects: set[str]) -> set[str]:
        return subjects & {"c-dead"}

    app = make_app(keyring, TOKEN, "http://localhost:8233", erased=erased)
    async with TestServer(app, host="127.0.0.1") as srv, ClientSession() as http:
        async with http.post(
            srv.make_url("/decode"),
            json={"payloads": [json_format.MessageToDict(payload)]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp:
            assert resp.status == 200
            [shown] = (await resp.json())["payloads"]
    assert json.loads(base64.b64decode(shown["data"])) == {
        "live": SEALED,
        "gone": ERASED,
        "tier": "gold",
    }
