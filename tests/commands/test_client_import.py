"""`client import`: JSON Lines and CSV files onboarded through the real worker on the dev server
(the re-run's existence check is a visibility query); refusals by line, never by value."""

from __future__ import annotations

import asyncio
import csv
import gc
import json
import os
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from commands import client_import
from commands.base import CommandError
from commands.clients import COMMANDS
from domain.client import ClientFile
from infra.keys import KeyRing
from projections.tables import clients
from tests.auditor.rig import ring_text
from tests.workflows.test_client_support import client_body, client_worker, ctx, end_workflow
from workflows.client_service import ClientServiceWorkflow

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME, SECRET_PHONE = "Zhang Secretname", "12345"


def _ids(n: int) -> list[str]:
    prefix = uuid.uuid4().hex[:6]
    return [f"imp-{prefix}-{i}" for i in range(n)]


async def _starter(
    env: WorkflowEnvironment, queue: str, keyring: KeyRing, pg_url: str, *argv: str
) -> tuple[int, str, str]:
    """`python starter.py ARGV` as a backend service runs it, against the test's worker."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CLIENT_CARE_", "TEMPORAL_"))},
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": queue,
        "CLIENT_CARE_KEYS": ring_text(keyring),
        "DATABASE_URL": pg_url,
    }
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, str(ROOT / "starter.py"), *argv),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=environment,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _error(stderr: str) -> dict[str, Any]:
    """The JSON error object starter prints last on stderr (after the progress line)."""
    return dict(json.loads(stderr.strip().splitlines()[-1]))


async def _listed(client: Client, ids: list[str]) -> None:
    """Waits until visibility lists every client: the dev server indexes asynchronously."""
    quoted = ", ".join(f"'{i}'" for i in ids)
    for _ in range(200):
        count = await client.count_workflows(f"ClientId IN ({quoted})")
        if count.count >= len(ids):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"visibility never listed {ids}")


async def _onboard_updates(client: Client, client_id: str) -> int:
    history = await client.get_workflow_handle(f"client-{client_id}").fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == "onboard"
    )


def _client_rows(engine: Engine, ids: list[str]) -> set[str]:
    with engine.connect() as conn:
        query = select(clients.c.client_id).where(clients.c.client_id.in_(ids))
        return set(conn.scalars(query))


async def _projected(engine: Engine, ids: list[str]) -> None:
    for _ in range(200):
        if _client_rows(engine, ids) == set(ids):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the clients rows of {ids} were never written")


async def test_jsonl_refuses_rows_by_line_onboards_the_rest_and_a_rerun_sends_nothing(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, pg_url: str, tmp_path: Path
) -> None:
    first, second, third = _ids(3)
    bad_phone = client_body("imp-bad-phone", basic={"name": SECRET_NAME, "phone": SECRET_PHONE})
    lines = [
        json.dumps(client_body(first)),  # 1
        "",  # 2: blank lines are no rows
        json.dumps(client_body(second)),  # 3
        '{"client_id": "x", "kind": ',  # 4
        json.dumps(bad_phone),  # 5
        json.dumps(client_body(first, basic={"name": SECRET_NAME})),  # 6
        "[1, 2]",  # 7
        json.dumps(client_body(third)),  # 8
    ]
    path = tmp_path / "clients.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ids = [first, second, third]

    async with client_worker(dev_env.client, db, keyring, ends=[f"client-{i}" for i in ids]) as q:
        code, out, err = await _starter(dev_env, q, keyring, pg_url, "client", "import", str(path))
        assert code == 1, err
        summary = _error(err)["details"]
        assert (summary["rows"], summary["onboarded"], summary["skipped"]) == (7, 3, 0)
        reasons = {r["line"]: r["reason"] for r in summary["refused_rows"]}
        assert sorted(reasons) == [4, 5, 6, 7]
        assert "not valid JSON" in reasons[4]
        assert "basic.phone" in reasons[5]
        assert "line 1" in reasons[6]
        assert "JSON object" in reasons[7]
        assert SECRET_NAME not in out + err and SECRET_PHONE not in out + err
        await _projected(db, ids)  # the import does not wait for the read models

        await _listed(dev_env.client, ids)
        code, _, err = await _starter(dev_env, q, keyring, pg_url, "client", "import", str(path))
        again = _error(err)["details"]
        assert code == 1 and (again["onboarded"], again["skipped"], again["refused"]) == (0, 3, 4)
        assert [await _onboard_updates(dev_env.client, i) for i in ids] == [1, 1, 1]


CSV_HEADER = [
    "client_id",
    "kind",
    "basic.name",
    "basic.gender",
    "basic.birth_date",
    "basic.phone",
    "basic.email",
    "financial.assets.0.asset_class",
    "financial.assets.0.amount",
    "financial.assets.1.asset_class",
    "financial.assets.1.amount",
    "metrics.aum",
    "metrics.annual_contribution",
    "metrics.transactions_12m",
    "advisor_id",
    "consents.granted.sms.0",
    "consents.granted.sms.1",
    "consents.granted.sms.2",
    "consents.do_not_contact",
    *(f"risk_answers.{n}" for n in range(10)),
]


def _csv_row(body: dict[str, Any]) -> list[str]:
    """The body as the CSV mapping spells it (the second asset column pair left empty)."""
    basic, asset, metrics = body["basic"], body["financial"]["assets"][0], body["metrics"]
    sms = body["consents"]["granted"]["sms"]
    return [
        body["client_id"],
        body["kind"],
        basic["name"],
        basic["gender"],
        basic["birth_date"] or "",
        basic["phone"],
        basic["email"],
        asset["asset_class"],
        asset["amount"],
        "",
        "",
        metrics["aum"],
        metrics["annual_contribution"],
        str(metrics["transactions_12m"]),
        body["advisor_id"],
        *sms,
        "false",
        *(str(a) for a in body["risk_answers"]),
    ]


def _write_csv(path: Path, bodies: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        writer.writerows(_csv_row(b) for b in bodies)


def test_csv_columns_spell_the_same_file_as_the_json_body(tmp_path: Path) -> None:
    bodies = [client_body("c-csv-1"), client_body("c-csv-2")]
    bodies[1]["basic"]["name"] = "Wang, Wu"  # written quoted
    path = tmp_path / "clients.csv"
    _write_csv(path, bodies)

    rows = list(client_import._csv(path))

    assert [r.line for r in rows] == [2, 3]
    for row, body in zip(rows, bodies, strict=True):
        assert row.body is not None
        assert ClientFile.model_validate(row.body) == ClientFile.model_validate(body)
        assert row.body["risk_answers"] == body["risk_answers"]  # integers, not text


@pytest.mark.parametrize(
    "header",
    [["client_id", "basic", "basic.name"], ["client_id", "basic..name"], ["kind", "kind"]],
)
def test_a_csv_header_that_is_not_a_set_of_field_paths_is_refused_whole(
    tmp_path: Path, header: list[str]
) -> None:
    path = tmp_path / "clients.csv"
    path.write_text(",".join(header) + "\n" + ",".join("x" for _ in header) + "\n")
    with pytest.raises(CommandError) as refused:
        client_import._count(path, "csv")
    assert refused.value.code == "usage"


async def test_csv_exits_zero_and_never_brings_an_offboarded_client_back(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, pg_url: str, tmp_path: Path
) -> None:
    fresh, gone = _ids(2)
    path = tmp_path / "clients.csv"
    _write_csv(path, [client_body(fresh), client_body(gone)])
    ends = [f"client-{fresh}"]
    async with client_worker(dev_env.client, db, keyring, ends=ends) as queue:
        context = ctx(dev_env.client, queue)
        await COMMANDS["onboard"](context, None, client_body(gone))
        await COMMANDS["offboard"](context, gone, {"reason": "account closed"})
        handle = dev_env.client.get_workflow_handle(f"client-{gone}")
        await handle.result()
        closed_run = (await handle.describe()).run_id
        await _listed(dev_env.client, [gone])

        code, out, err = await _starter(
            dev_env, queue, keyring, pg_url, "client", "import", str(path)
        )
        assert code == 0, err
        summary = json.loads(out)
        assert (summary["onboarded"], summary["skipped"], summary["refused"]) == (1, 1, 0)
        described = await handle.describe()
        assert (described.run_id, described.status) == (
            closed_run,
            WorkflowExecutionStatus.COMPLETED,
        )

        await _listed(dev_env.client, [fresh, gone])
        code, out, err = await _starter(
            dev_env, queue, keyring, pg_url, "client", "import", str(path)
        )
        assert code == 0, err
        assert (json.loads(out)["onboarded"], json.loads(out)["skipped"]) == (0, 2)


async def test_at_most_concurrency_onboardings_are_in_flight(
    dev_env: WorkflowEnvironment,
    db: Engine,
    keyring: KeyRing,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = _ids(8)
    path = tmp_path / "clients.jsonl"
    path.write_text("".join(json.dumps(client_body(i)) + "\n" for i in ids))
    in_flight, most = 0, 0
    real = client_import.onboard_file

    async def counted(context: Any, file: ClientFile, **options: Any) -> dict[str, Any]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await real(context, file, **options)
        finally:
            in_flight -= 1

    monkeypatch.setattr(client_import, "onboard_file", counted)
    async with client_worker(dev_env.client, db, keyring, ends=[f"client-{i}" for i in ids]) as q:
        context = ctx(dev_env.client, q)
        summary = await client_import.run(replace(context, concurrency=3), str(path), {})
    assert summary["onboarded"] == 8 and most == 3


async def test_input_that_cannot_be_read_is_refused_before_anything_is_sent(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    context = ctx(dev_env.client, "no-worker-needed")
    latin1 = tmp_path / "clients.csv"
    latin1.write_bytes("client_id,basic.name\nc-1,Jos\xe9\n".encode("latin-1"))
    unknown = tmp_path / "clients.xlsx"
    unknown.write_text("")
    for path in (latin1, unknown, tmp_path / "missing.jsonl"):
        with pytest.raises(CommandError) as refused:
            await client_import.run(context, str(path), {})
        assert refused.value.code == "usage", path


async def test_a_row_nobody_answers_is_reported_not_sent_and_the_rest_go_on(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [stuck] = _ids(1)
    path = tmp_path / "clients.jsonl"
    path.write_text(json.dumps(client_body(stuck)) + "\n" + "not json\n")
    monkeypatch.setattr(client_import, "ROW_WAIT", timedelta(seconds=2))
    context = ctx(dev_env.client, f"nobody-polls-{uuid.uuid4().hex[:6]}")
    try:
        with pytest.raises(CommandError) as partial:
            await client_import.run(context, str(path), {})
    finally:
        await end_workflow(dev_env.client, f"client-{stuck}")
        # The SDK leaves the timed-out RPC's future unretrieved; collected later, its warning
        # would run inside whatever allocates then (pytest's ast.parse fails on it), so now.
        gc.collect()
    summary = partial.value.details
    assert (summary["onboarded"], summary["refused"], summary["failed"]) == (0, 1, 1)
    assert summary["failed_rows"][0]["line"] == 1
    assert "no answer within 2s" in summary["failed_rows"][0]["reason"]


async def test_a_row_the_overloaded_server_gave_up_on_is_sent_again_under_its_update_id(
    dev_env: WorkflowEnvironment,
    db: Engine,
    keyring: KeyRing,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [row] = _ids(1)
    path = tmp_path / "clients.jsonl"
    path.write_text(json.dumps(client_body(row)) + "\n")
    sent: list[str | None] = []
    real = client_import.onboard_file

    async def overloaded_once(context: Any, file: ClientFile, **options: Any) -> dict[str, Any]:
        sent.append(options.get("update_id"))
        answer = await real(context, file, **options)
        if len(sent) == 1:  # it got through, but the answer was lost to the server's deadline
            raise RPCError("context deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")
        return answer

    monkeypatch.setattr(client_import, "onboard_file", overloaded_once)
    async with client_worker(dev_env.client, db, keyring, ends=[f"client-{row}"]) as queue:
        summary = await client_import.run(ctx(dev_env.client, queue), str(path), {})
    assert summary["onboarded"] == 1 and len(sent) == 2 and sent[0] == sent[1] is not None
    assert await _onboard_updates(dev_env.client, row) == 1  # answered, not applied twice


async def test_duties_owed_in_the_earlier_system_come_through_an_import(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, pg_url: str, tmp_path: Path
) -> None:
    """The migration `owed_duties` is for: a CSV's `owed_duties.0.kind`/`.due_at` columns spell
    the same duties as a JSON row, and an imported client owing a callback long past is open
    with that due date from the start (its workflow's next duty)."""
    owed_at = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    owed = [{"kind": "callback", "due_at": owed_at.isoformat()}]
    csv_path = tmp_path / "owed.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow([*CSV_HEADER, "owed_duties.0.kind", "owed_duties.0.due_at"])
        writer.writerow([*_csv_row(client_body("c-csv-owed")), "callback", owed_at.isoformat()])
    (row,) = client_import._csv(csv_path)
    assert row.body is not None and row.body["owed_duties"] == owed

    (cid,) = _ids(1)
    path = tmp_path / "owed.jsonl"
    path.write_text(json.dumps(client_body(cid, owed_duties=owed)) + "\n", encoding="utf-8")
    async with client_worker(dev_env.client, db, keyring, ends=[f"client-{cid}"]) as q:
        code, _, err = await _starter(dev_env, q, keyring, pg_url, "client", "import", str(path))
        assert code == 0, err
        handle = dev_env.client.get_workflow_handle(f"client-{cid}")
        view = await handle.query(ClientServiceWorkflow.view)
        assert [(t.kind.value, t.due_at) for t in view.open_tasks if ":owed-" in t.task_id] == [
            ("callback", owed_at)
        ]
        assert view.next_service_due == owed_at
