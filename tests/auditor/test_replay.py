"""Replay names every run the current code cannot replay, from any of the three sources."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

import auditor
from audit import replay, sources
from infra.binaries import temporal_cli
from infra.keys import KeyRing
from tests.auditor.rig import SampleRig, point_at
from tests.auditor.sample import ORIGINAL, REORDERED

ORIGINAL_SPEC = "tests.auditor.sample:ORIGINAL"
REORDERED_SPEC = "tests.auditor.sample:REORDERED"


async def test_replay_accepts_unchanged_code_and_names_a_nondeterministic_change(
    ts_rig: SampleRig,
) -> None:
    workflow_id = await ts_rig.lifecycle("r1")
    runs = await sources.chain(ts_rig.client, workflow_id)
    assert len(runs) == 2  # the sample continued as new once

    same = await replay.replay(sources.from_list(runs), ORIGINAL, ts_rig.client.data_converter)
    assert same.ok and same.replayed == 2

    changed = await replay.replay(sources.from_list(runs), REORDERED, ts_rig.client.data_converter)
    # Only the first run opens the case (projection, then timer), so only it diverges.
    assert [(f.workflow_id, f.run_id, f.kind) for f in changed.findings] == [
        (workflow_id, runs[0].run_id, "nondeterminism")
    ]


async def test_cli_replay_by_workflow_id_exit_codes(
    ts_env: WorkflowEnvironment,
    ts_rig: SampleRig,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, ts_env)
    workflow_id = await ts_rig.lifecycle("r2")

    assert (
        await auditor.run(["replay", "--workflow-id", workflow_id, "--workflows", ORIGINAL_SPEC])
        == 0
    )
    assert "replayed 2 run(s): ok" in capsys.readouterr().out

    code = await auditor.run(
        ["replay", "--workflow-id", workflow_id, "--workflows", REORDERED_SPEC, "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == auditor.EXIT_FINDINGS
    assert [(f["workflow_id"], f["kind"]) for f in report["findings"]] == [
        (workflow_id, "nondeterminism")
    ]


async def test_cli_replay_unknown_workflow_cannot_run(
    ts_env: WorkflowEnvironment, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    point_at(cli_env, ts_env)
    code = await auditor.run(
        ["replay", "--workflow-id", "no-such-workflow", "--workflows", ORIGINAL_SPEC]
    )
    assert code == auditor.EXIT_ERROR
    assert "no-such-workflow" in capsys.readouterr().err


async def test_cli_replay_by_query_names_each_workflow(
    dev_env: WorkflowEnvironment,
    dev_rig: SampleRig,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, dev_env)
    first = await dev_rig.lifecycle("q1")
    second = await dev_rig.lifecycle("q2", advances_per_run=10)  # one run only
    await dev_rig.listed(3)

    argv = ["replay", "--query", dev_rig.query, "--json"]
    assert await auditor.run([*argv, "--workflows", ORIGINAL_SPEC]) == 0
    assert json.loads(capsys.readouterr().out)["replayed"] == 3

    assert await auditor.run([*argv, "--workflows", REORDERED_SPEC]) == auditor.EXIT_FINDINGS
    named = {f["workflow_id"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert named == {first, second}


async def test_cli_export_is_accepted_as_history_file(
    dev_env: WorkflowEnvironment,
    dev_rig: SampleRig,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """`temporal workflow show --output json` writes encrypted payloads and no workflow id
    outside the start event; both are handled."""
    workflow_id = await dev_rig.lifecycle("f1", advances_per_run=10)
    export = tmp_path / "export.json"
    address = dev_env.client.service_client.config.target_host
    show = await asyncio.create_subprocess_exec(
        *(temporal_cli(), "workflow", "show", "-w", workflow_id, "--output", "json"),
        *("--address", address),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await show.communicate()
    assert show.returncode == 0
    export.write_bytes(out)
    assert sources.from_file(export).workflow_id == workflow_id

    argv = ["replay", "--history-file", str(export), "--json"]
    assert await auditor.run([*argv, "--workflows", ORIGINAL_SPEC]) == 0
    capsys.readouterr()
    assert await auditor.run([*argv, "--workflows", REORDERED_SPEC]) == auditor.EXIT_FINDINGS
    assert json.loads(capsys.readouterr().out)["findings"][0]["workflow_id"] == workflow_id


async def test_decrypted_sdk_export_replays_without_the_key(
    ts_rig: SampleRig, tmp_path: Path
) -> None:
    """Saved histories (tests/histories/) are decrypted so any key ring replays them; the
    encrypting converter would refuse their plaintext payloads."""
    workflow_id = await ts_rig.lifecycle("f2", advances_per_run=10)
    [history] = await sources.chain(ts_rig.client, workflow_id)
    saved = tmp_path / "saved.json"
    saved.write_text(await sources.saved_json(history, ts_rig.client.data_converter.payload_codec))
    assert b"binary/encrypted" not in saved.read_bytes()

    def no_key() -> KeyRing:
        raise AssertionError("a decrypted history must not need the key ring")

    assert (await replay.replay_files([saved], ORIGINAL, no_key)).ok
    report = await replay.replay_files([saved], REORDERED, no_key)
    assert [f.workflow_id for f in report.findings] == [workflow_id]


async def test_unregistered_workflow_type_is_a_finding(ts_rig: SampleRig) -> None:
    from tests.helpers.probe import SearchAttributeProbe

    workflow_id = await ts_rig.lifecycle("u1", advances_per_run=10)
    runs = await sources.chain(ts_rig.client, workflow_id)
    report = await replay.replay(
        sources.from_list(runs), [SearchAttributeProbe], ts_rig.client.data_converter
    )
    assert [(f.workflow_id, f.kind) for f in report.findings] == [(workflow_id, "failure")]
