"""Projection rows must not depend on the process that computes them.

The worker writes a row from an activity input; `auditor.py verify-projections` rebuilds the
same row from the same input in another process. Python salts `str` hashes per process
(PYTHONHASHSEED), so anything that iterates a set of strings to build a row writes a different
row in each process, and verify reports a difference that is not there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from infra.settings import ROOT

ROW = """
import json
from datetime import UTC, datetime
from activities.clients import ClientRecord, client_row
from domain.client import ClientFile
from domain.enums import ServiceStatus, Tier
from infra.keys import KeyRing, new_key_entry
from projections.crypto import FieldCipher

file = ClientFile.model_validate({
    "client_id": "c-7", "kind": "individual", "basic": {"name": "Wang Fang"},
    "consents": {"granted": {"sms": ["service", "care", "events", "complaint"]}},
})
now = datetime(2026, 1, 5, tzinfo=UTC)
record = ClientRecord(
    file=file, tier=Tier.GOLD, risk=None, risk_assessed_at=None, status=ServiceStatus.ACTIVE,
    next_service_due=None, next_service_kind=None, segment=None, missing_fields=[],
    onboarded_at=now,
)
row = client_row("client-c-7", 1, now, record, FieldCipher(KeyRing.parse(new_key_entry())))
print(json.dumps(row["consents"]))
"""


def consents_column(hash_seed: int) -> object:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    out = subprocess.run(
        [sys.executable, "-c", ROW], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_the_clients_consents_column_is_the_same_in_every_process() -> None:
    columns = {seed: consents_column(seed) for seed in range(6)}
    assert len({json.dumps(c) for c in columns.values()}) == 1, columns
