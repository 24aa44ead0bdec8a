"""Replay: saved histories of the client service must keep replaying on the current code.

`tests/histories/<release>/client_*.json` are recorded by `record_histories` below through
the project's converter *without* its encryption codec, as `tests/histories/` keeps every saved
history: they need no key (`auditor.py replay --history-file` replays plaintext histories with
the codec-less converter, since the encrypting one rightly refuses plaintext). They hold only the
fake test client. To re-record them after an intended change of workflow code:

    CLIENT_CARE_SAVE_HISTORIES=1 python -m pytest tests/workflows/test_client_histories.py

(into the current release's folder, `tests.helpers.histories.RELEASE`: the earlier releases'
runs stay as they were recorded, such as `2026-11/client_service_first_run.json` from before the
effects queue. Within a release, re-recording writes the newest shape under the first name:
`2026-12/client_service_first_run.json` is from before advisor reminders, whose shape is
`2026-12/client_service_first_run_reminders.json`, so rename the new recording and keep the
older one; `tests/histories/patches.toml` fails the suite when a patch's old side is lost.)

Every run also records fresh histories into a temporary folder and replays those, so recording
is exercised even when nothing is saved.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.tier_review import TierChangeSignal
from commands import events
from commands.clients import COMMANDS
from domain.enums import Tier
from domain.periods import Period
from infra.keys import KeyRing
from projections.subject_keys import PgSubjectKeys, Sealer
from simulation.year import sleep_until
from tests.helpers.histories import CORPUS, recording_dir, uncoded_converter
from tests.workflows.test_client_support import (
    ANSWERS_C4,
    client_body,
    client_worker,
    ctx,
    private_clock,
    run_histories,
)
from workflows.client_events import ClientEventWorkflow
from workflows.client_service import ClientServiceWorkflow
from workflows.tier_review import TierReviewInput, TierReviewWorkflow

WORKFLOWS = [ClientServiceWorkflow, ClientEventWorkflow, TierReviewWorkflow]


@pytest.fixture(scope="module")
async def own_clock(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    async with private_clock(keyring) as env:
        yield env


plain_converter = uncoded_converter


async def record_histories(
    env: WorkflowEnvironment, engine: Engine, keyring: KeyRing, out: Path
) -> list[Path]:
    """A year and a bit of one client (every update and signal once, greetings, an escalation,
    continue-as-new), one event and one tier review; writes the client's first run, the
    event's history and the review's first run."""
    plain = Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=plain_converter(keyring),
    )
    async with client_worker(plain, engine, keyring, ends=["client-c-hist"]) as queue:
        # the plain client has no codec to take the ring from: the sealer is given
        c = dataclasses.replace(ctx(plain, queue), sealer=Sealer(PgSubjectKeys(engine, keyring)))
        start = await env.get_current_time()
        birthday = (start + timedelta(days=20)).date()
        body = client_body(
            "c-hist",
            Tier.DIAMOND,
            birth_date=date(1970, birthday.month, min(birthday.day, 28)),
            care=True,
        )
        await COMMANDS["onboard"](c, None, body)
        view = await COMMANDS["show"](c, "c-hist", {})
        await sleep_until(
            env, datetime.fromisoformat(view["next_service_due"]) + timedelta(hours=1)
        )
        await COMMANDS["callback"](c, "c-hist", {"satisfaction": 5, "returns": "good"})
        await COMMANDS["update"](
            c,
            "c-hist",
            {"consents": {"granted": {"sms": ["service", "events"]}}, "risk_answers": ANSWERS_C4},
        )
        await COMMANDS["pause"](c, "c-hist", {"reason": "travelling"})
        await COMMANDS["resume"](c, "c-hist", {})
        await plain.get_workflow_handle("client-c-hist").signal(
            "change_tier",
            TierChangeSignal(
                review_id="tier-review-hist",
                old_tier=Tier.DIAMOND,
                new_tier=Tier.PLATINUM,
                direction="down",
                reason="recorded for replay",
                at=start,
            ),
        )
        starts = await env.get_current_time() + timedelta(days=10)
        # Diamond or platinum: the client's row may not show the signalled tier yet.
        event = {
            "event_id": "ev-hist",
            "kind": "seminar",
            "title": "Risk management",
            "starts_at": starts.isoformat(),
            "segment": {"tiers": ["diamond", "platinum"]},
        }
        await events.COMMANDS["create"](c, None, event)
        await events.COMMANDS["attend"](c, "ev-hist", {"attended": ["c-hist"]})
        await events.COMMANDS["close"](c, "ev-hist", {})
        # A review of one client, one client per page: it upgrades c-hist back to diamond,
        # signals it and continues as new once.
        one_per_page = c.policy.model_copy(
            update={"tiers": c.policy.tiers.model_copy(update={"review_page_size": 1})}
        )
        review = await plain.execute_workflow(
            TierReviewWorkflow.run,
            TierReviewInput(policy=one_per_page, pages_per_run=1),
            id="tier-review-hist",
            task_queue=queue,
        )
        assert review.totals.upgraded == 1
        review_runs = await run_histories(plain, "tier-review-hist")
        await sleep_until(env, Period.parse("P13M").after(start))
        client_runs = await run_histories(plain, "client-c-hist")
        event_history = await plain.get_workflow_handle("event-ev-hist").fetch_history()
    assert len(client_runs) >= 2, "the recorded year must end in continue-as-new"
    assert len(review_runs) == 2
    saved = {
        "client_service_first_run.json": client_runs[0],
        "client_event.json": event_history,
        "client_tier_review.json": review_runs[0],
    }
    paths = [out / name for name in saved]
    for path, history in zip(paths, saved.values(), strict=True):
        path.write_text(history.to_json())
    return paths


async def replay(paths: list[Path], keyring: KeyRing) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=plain_converter(keyring))
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        await replayer.replay_workflow(history)


async def test_freshly_recorded_histories_replay(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    save = os.environ.get("CLIENT_CARE_SAVE_HISTORIES") == "1"
    paths = await record_histories(own_clock, db, keyring, recording_dir() if save else tmp_path)
    text = paths[0].read_text()
    assert "binary/encrypted" not in text  # readable without a key, by design
    await replay(paths, keyring)


@pytest.mark.parametrize(
    "name",
    [
        "2026-12/client_service_first_run.json",
        # Recorded with advisor reminders (`ADVISOR_REMINDERS`); the one above is from before.
        "2026-12/client_service_first_run_reminders.json",
        # Recorded before `EFFECTS_QUEUED`: commands held a lane across their activities; the
        # second with the new side of the lane's two patches.
        "2026-11/client_service_first_run.json",
        "2026-12/client_service_lane_patched.json",
        "2026-11/client_event.json",
        "2026-11/client_tier_review.json",
    ],
)
async def test_saved_history_replays_on_current_code(name: str, keyring: KeyRing) -> None:
    await replay([CORPUS / name], keyring)
