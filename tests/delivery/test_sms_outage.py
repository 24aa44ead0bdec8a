"""Fault test: the SMS gateway is down for 5 minutes while 200 birthday greetings fall due.

What runs for real: 200 `ClientServiceWorkflow`s on a time-skipping Temporal server with the
real activities; the outbox rows the real `notify` activity commits to PostgreSQL; the real
dispatcher with the production retry policy (10 s backoff doubling to 10 min, 10 attempts),
sending over HTTP to a local gateway that answers 503 throughout the outage and deduplicates on
`Idempotency-Key` afterwards. What is simulated: the 5 minutes, on the dispatcher's clock (each
1 s tick delivers whatever is due), so the outage costs seconds of wall time; and the commands
sent during it are real updates on the time-skipping server, timed in wall time.

During the outage: `pause` on 20 of the clients, `callback` on 20, `erase` on 10, each answered
within 10 s. After it: every greeting delivered exactly once (the gateway saw no key twice),
except the 10 erased clients', which the dispatcher stops at send time (PIPL: no personal data
is processed for an erased client), recorded as suppressed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime

from sqlalchemy import Engine, func, select

from activities.channels import SmsGateway, StaffNotices, Unconfigured
from activities.delivery import Dispatcher, RetryPolicy
from activities.deps import ActivityDeps
from activities.messages import MessageCatalogue
from commands import privacy
from commands.clients import COMMANDS
from domain.enums import Tier
from domain.localtime import to_utc
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import notifications
from simulation.year import sleep_until
from tests.delivery.conftest import Clock
from tests.delivery.servers import Gateway
from tests.workflows.test_client_support import client_body, client_worker, ctx, private_clock

N = 200
OUTAGE = timedelta(minutes=5)
ANSWER_WITHIN = 10.0
POLICY = Policy.model_validate(
    {
        "service": {
            "callback_every": dict.fromkeys(("diamond", "platinum", "gold", "regular"), "P7D")
        },
        "holidays": {"greet": []},  # only the birthdays fall due
    }
)


def _greetings(db: Engine) -> dict[str, int]:
    n = notifications.c
    with db.connect() as conn:
        rows = conn.execute(
            select(n.status, func.count())
            .where(n.template == "birthday_greeting")
            .group_by(n.status)
        ).all()
    return {status: count for status, count in rows}


async def test_sms_gateway_down_for_five_minutes_while_200_greetings_fall_due(
    db: Engine, keyring: KeyRing, gateway: tuple[Gateway, str]
) -> None:
    gw, url = gateway
    ids = [f"c-out-{i:03d}" for i in range(N)]
    async with (
        private_clock(keyring) as env,
        client_worker(env.client, db, keyring, ends=[f"client-{c}" for c in ids]) as queue,
    ):
        c = dataclasses.replace(ctx(env.client, queue, POLICY), settle_within=0)
        start = await env.get_current_time()
        zone = POLICY.zone()
        birthday = (start.astimezone(zone) + timedelta(days=12)).date()
        born = date(1980, birthday.month, min(birthday.day, 28))
        limit = asyncio.Semaphore(16)

        async def onboard(client_id: str) -> None:
            async with limit:
                body = client_body(client_id, Tier.DIAMOND, birth_date=born, care=True)
                await COMMANDS["onboard"](c, None, body)

        t = time.monotonic()
        await asyncio.gather(*(onboard(i) for i in ids))
        onboarded_in = time.monotonic() - t
        greet_at = to_utc(
            born.replace(year=birthday.year), dtime(hour=POLICY.service.contact_hour), zone
        )
        await sleep_until(env, greet_at + timedelta(minutes=30))
        for _ in range(360):  # the notify activities commit the rows in wall time
            if _greetings(db).get("queued", 0) >= N:
                break
            await asyncio.sleep(0.5)
        assert _greetings(db) == {"queued": N}

        # The outage, on the dispatcher's clock: 503 for every request until it ends.
        clock = Clock(greet_at + timedelta(minutes=30))
        outage_starts = clock()
        outage_ends = outage_starts + OUTAGE
        staff = StaffNotices()
        d = Dispatcher(
            ActivityDeps(engine=db, cipher=FieldCipher(keyring)),
            {"sms": SmsGateway(url, gw.token), "internal": staff, "email": Unconfigured("email")},
            MessageCatalogue(),
            POLICY,
            retry=RetryPolicy(),
            clock=clock,
        )
        gw.fail_status = 503

        latencies: list[tuple[str, float, float]] = []  # verb, wall seconds, outage second

        async def timed(verb: str, client_id: str) -> None:
            issued_at = (clock() - outage_starts).total_seconds()
            t0 = time.monotonic()
            if verb == "pause":
                await COMMANDS["pause"](c, client_id, {"reason": "abroad"})
            elif verb == "callback":
                await COMMANDS["callback"](c, client_id, {"satisfaction": 4})
            else:
                body = {"requested_by": "dpo-01", "reason": "PIPL-REQ-9"}
                await privacy.erase(c, client_id, body)
            latencies.append((verb, time.monotonic() - t0, issued_at))

        # 50 commands spread over the outage, one every 6 simulated seconds.
        plan = [("pause", i) for i in ids[:20]] + [("callback", i) for i in ids[20:40]]
        plan += [("erase", i) for i in ids[40:50]]
        schedule = [
            (outage_starts + timedelta(seconds=6 * k), v, i) for k, (v, i) in enumerate(plan)
        ]
        sent: list[asyncio.Task[None]] = []

        async def tick_until(end: datetime) -> None:
            while clock() < end:
                while schedule and schedule[0][0] <= clock():
                    _, verb, client_id = schedule.pop(0)
                    sent.append(asyncio.create_task(timed(verb, client_id)))
                while await asyncio.to_thread(d.deliver_due):
                    pass
                clock.advance(timedelta(seconds=1))
                await asyncio.sleep(0.02)  # 5 simulated minutes in about 6 s of wall time

        await tick_until(outage_ends)
        await asyncio.gather(*sent)
        during = _greetings(db)
        requests_in_outage = gw.refused
        assert gw.accepted == {} and during.get("sent", 0) == 0

        gw.fail_status = None
        await tick_until(outage_ends + timedelta(minutes=30))
        after = _greetings(db)
        per_key = list(gw.requests.values())
        erased = {f"client-{i}:" for i in ids[40:50]}
        with db.connect() as conn:
            rows = conn.execute(
                select(notifications).where(notifications.c.template == "birthday_greeting")
            ).all()
        last_sent = max(r.sent_at for r in rows if r.sent_at)
        attempts = sorted({r.attempts for r in rows if r.status == "sent"})
        worst = max(latencies, key=lambda x: x[1])
        issued = [x[2] for x in latencies]
        print(
            f"\n{N} greetings, gateway down {OUTAGE}: onboarded in {onboarded_in:.1f}s; "
            f"{len(latencies)} commands issued at outage seconds {min(issued):.0f}-"
            f"{max(issued):.0f}, slowest {worst[0]} {worst[1]:.2f}s (mean "
            f"{sum(x[1] for x in latencies) / len(latencies):.2f}s); "
            f"{requests_in_outage} requests refused (503); "
            f"after: {after}, delivered {len(gw.accepted)}, keys seen twice {gw.duplicates}, "
            f"attempts of the delivered {attempts}, last delivered "
            f"{(last_sent - outage_ends).total_seconds():.0f}s after recovery"
        )
        assert all(s < ANSWER_WITHIN for _, s, _ in latencies), latencies
        assert max(issued) < OUTAGE.total_seconds() and gw.refused > 0
        assert len(latencies) == 50
        assert after == {"sent": N - 10, "suppressed": 10}
        assert len(gw.accepted) == N - 10 and all(n == 1 for n in per_key) and gw.duplicates == 0
        assert not any(k.startswith(tuple(erased)) for k in gw.accepted)
        assert {r.suppressed_reason for r in rows if r.status == "suppressed"} == {
            "no client file on record"
        }
