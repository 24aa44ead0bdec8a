"""Scaling out: complaint lifecycles and a greeting burst served by 1, 2 and 4 `worker.py`.

One dev server and one embedded PostgreSQL for the whole run. Each worker count has a task
queue and a worker deployment of its own (`scale-wN`), served by N `worker.py` processes of one
deployment version (`bench.localstack.WorkerProcesses`), so the counts run one after another
on the same servers and are compared in one run:

1. Setup, before any count runs: N clients per count are onboarded (`client onboard`, one
   worker per queue) with one holiday greeting due at the same instant, a full local hour in a
   zone chosen a few minutes ahead (as `bench/spring_festival.py` picks it: the same policy,
   holiday and client files), and the workers are stopped. When the instant passes the server
   fires every greeting's timer with no worker polling: the burst waits on the queues, every
   client due at once, none of them cached by a worker (as in a book of 100,000).
2. Per worker count, in turn: N processes start on their queue; figures: the time from the
   first one's "worker started" until every greeting's outbox row is written, and until every
   one is sent (to `GatewayCounter`, an SMS gateway on loopback that counts POSTs); then
   complaint lifecycles through the command functions (open → assess → investigate → resolve
   → follow-up, as `bench/complaint_throughput.py`): lifecycles/s. The policy's decision
   deadline is PT20S, so each complaint's deadline timer fires during its lifecycle too (a
   warning, or a breach when its commands took longer). A count written `2k` (in
   `--workers 1,2,4,2k`) is a run of its own in which one of the 2 workers is SIGKILLed
   half-way through the lifecycles.
3. After each count's run, its workers stopped: `auditor.py verify-projections` (a process of
   its own, every history in the namespace against the live read models: must match) and the
   exactly-once checks of `bench/exactly_once.py` over that count's workflows (no update
   accepted twice, no complaint event kind twice, one greeting per client, each SMS sent once).

The load average is read before and after each count: on a shared 2-core machine it says how
much of a difference is the neighbours'.

    .venv/bin/python bench/scale_out.py [--workers 1,2,4] [--clients 200] [--lifecycles 100]
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from bench.common import ROOT, Verdict, byte_compile, machine, parser, say
from bench.complaint_throughput import full_lifecycle
from bench.exactly_once import (
    Findings,
    GatewayCounter,
    check_commands,
    check_complaint_rows,
    check_greetings,
    check_sends,
    complaint_rows,
    greeting_rows,
    sent_sms,
)
from bench.localstack import Endpoints, WorkerProcesses, connect, local_stack
from bench.spring_festival import Side, burst_time, onboard_all, policy_text
from domain.client_service import workflow_id_for
from domain.holiday_dates import first_days
from infra.database import make_engine
from infra.policy_file import load_policy
from projections.tables import notifications

GREETING = "holiday_greeting"


@dataclasses.dataclass
class Run:
    workers: int
    side: Side
    kill: bool = False
    load_before: str = ""
    load_after: str = ""
    started_in: float = 0.0
    written_in: float | None = None
    sent_in: float | None = None
    lifecycles: int = 0
    failed: int = 0
    seconds: float = 0.0
    complaints: list[str] = dataclasses.field(default_factory=list)
    pids: list[int] = dataclasses.field(default_factory=list)
    share: list[int] = dataclasses.field(default_factory=list)
    """Workflow and activity tasks each worker process started, from the run's histories."""
    verify: dict[str, Any] = dataclasses.field(default_factory=dict)
    once: Findings = dataclasses.field(default_factory=Findings)

    @property
    def queue(self) -> str:
        return self.side.endpoints.task_queue

    @property
    def name(self) -> str:
        return self.side.name

    @property
    def client_workflows(self) -> list[str]:
        return [workflow_id_for(c) for c in self.side.clients]

    @property
    def rate(self) -> float:
        return self.lifecycles / self.seconds if self.seconds else 0.0


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


async def fired(client: Client, workflow_ids: list[str], cap: float) -> float | None:
    """Seconds until every one of these parked workflows has a workflow task waiting (its
    timer fired, no worker polling); None if not within `cap`."""
    started, waiting = time.monotonic(), list(workflow_ids)
    gate = asyncio.Semaphore(20)

    async def pending(wid: str) -> bool:
        async with gate:
            d = await client.get_workflow_handle(wid).describe()
            return d.raw_description.HasField("pending_workflow_task")

    while waiting and time.monotonic() - started < cap:
        answers = await asyncio.gather(*(pending(w) for w in waiting))
        waiting = [w for w, p in zip(waiting, answers, strict=True) if not p]
        if waiting:
            say(f"  {len(workflow_ids) - len(waiting):,}/{len(workflow_ids):,} timers fired")
            await asyncio.sleep(5)
    return None if waiting else time.monotonic() - started


async def drain(engine: Any, run: Run, since: datetime, cap: float) -> None:
    """Waits until every greeting of the run is written to the outbox, then sent."""
    n = notifications.c
    query = select(
        func.count(),
        func.max(n.created_at),
        func.count().filter(n.status == "sent"),
        func.max(n.sent_at),
    ).where(n.template == GREETING, n.workflow_id.like(f"client-sf-{run.side.name}-%"))
    want, deadline = len(run.side.clients), time.monotonic() + cap
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            written, last_written, sent, last_sent = conn.execute(query).one()
        if written >= want and run.written_in is None:
            run.written_in = (last_written - since).total_seconds()
        if sent >= want:
            run.sent_in = (last_sent - since).total_seconds()
            return
        await asyncio.sleep(1)
    say(f"  {run.name}: {written:,} written, {sent:,} sent of {want:,} within the cap")


async def lifecycles(
    run: Run, client: Client, workers: WorkerProcesses, count: int, c: int
) -> None:
    ctx = run.side.context(client)
    gate, done = asyncio.Semaphore(c), 0

    async def one() -> None:
        nonlocal done
        async with gate:
            try:
                run.complaints.append(await full_lifecycle(ctx))
            except Exception as exc:  # counted and shown; the checks then find the complaint
                run.failed += 1
                say(f"  {run.name}: lifecycle failed: {type(exc).__name__}: {exc}")
        done += 1
        if run.kill and done == count // 2:
            say(f"  {run.name}: SIGKILL to {workers.workers[0].log_path.stem}")
            workers.workers[0].kill()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    run.seconds = time.perf_counter() - started
    run.lifecycles = len(run.complaints)


def started_by(histories: list[WorkflowHistory]) -> Counter[int]:
    """Workflow and activity tasks started, per worker process id (an SDK worker's identity
    is `<pid>@<host>`)."""
    out: Counter[int] = Counter()
    for h in histories:
        for e in h.events:
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                who = e.workflow_task_started_event_attributes.identity
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                who = e.activity_task_started_event_attributes.identity
            else:
                continue
            pid = who.partition("@")[0]
            if pid.isdigit():
                out[int(pid)] += 1
    return out


async def verify_projections(ep: Endpoints, workdir: Path) -> dict[str, Any]:
    """`auditor.py verify-projections --json` as an operator runs it, in a process of its own."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "auditor.py"),
        "verify-projections",
        "--json",
        cwd=workdir,
        env={**os.environ, **ep.worker_env()},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    try:
        report: dict[str, Any] = json.loads(out)
    except ValueError:
        report = {"ok": False, "error": err.decode(errors="replace")[-500:]}
    report["exit"] = proc.returncode
    return report


async def exactly_once(run: Run, client: Client, engine: Any, gateway: GatewayCounter) -> None:
    f = run.once
    got = [await client.get_workflow_handle(w).fetch_history() for w in run.complaints]
    check_commands(f, got)
    greeted = [await client.get_workflow_handle(w).fetch_history() for w in run.client_workflows]
    by = started_by([*got, *greeted])
    run.share = [by.get(pid, 0) for pid in run.pids]
    check_complaint_rows(f, complaint_rows(engine, run.complaints))
    clients = run.client_workflows
    check_greetings(f, greeting_rows(engine, f"client-sf-{run.side.name}-", GREETING), clients)
    ids = clients + run.complaints
    check_sends(f, sent_sms(engine, ids), gateway.posted([w + ":" for w in ids]))


async def serve(
    run: Run, args: Any, client: Client, engine: Any, gateway: GatewayCounter, env: dict[str, str]
) -> None:
    run.load_before = load()
    say(f"{run.name}: starting {run.workers} worker.py on {run.queue} (load {run.load_before})")
    workers = WorkerProcesses(run.side.endpoints, args.workdir / "scale", run.workers, run.queue)
    launched = datetime.now(UTC)
    workers.start(env)  # in this thread: a worker dies with its spawning thread
    run.pids = [w.pid for w in workers.workers]
    try:
        first = min(workers.started_at)
        run.started_in = (max(workers.started_at) - launched).total_seconds()
        await drain(engine, run, first, args.cap * 60)
        say(f"  {run.name}: greetings written in {run.written_in} s, sent in {run.sent_in} s")
        await lifecycles(run, client, workers, args.lifecycles, args.concurrency)
        say(f"  {run.name}: {run.lifecycles} lifecycles at {run.rate:.2f}/s")
    finally:
        await asyncio.to_thread(workers.stop)
    run.load_after = load()


async def main() -> int:
    p = parser(__doc__)
    p.add_argument(
        "--workers",
        default="1,2,4",
        help="worker counts, in order (default 1,2,4); 2k: 2, one SIGKILLed mid-run",
    )
    p.add_argument("--clients", type=int, default=200, help="clients greeted per worker count")
    p.add_argument("--lifecycles", type=int, default=100, help="complaints per worker count")
    p.add_argument("--concurrency", type=int, default=20, help="lifecycles in flight")
    p.add_argument("--onboard-concurrency", type=int, default=16, help="onboardings in flight")
    p.add_argument("--lead", type=float, default=6.0, help="minutes from now to the burst")
    p.add_argument("--cap", type=float, default=20.0, help="minutes to wait for a drain")
    p.add_argument("--country", default="RO")
    p.add_argument("--holiday", default="National Day")
    args = p.parse_args()
    counts = args.workers.split(",")
    byte_compile()

    def day_of(d: date) -> bool:
        return first_days([args.holiday], d.year, args.country).get(args.holiday) == d

    zone, hour, burst = burst_time(timedelta(minutes=args.lead), day_of)
    workdir = args.workdir / "scale"
    workdir.mkdir(parents=True, exist_ok=True)
    policy = workdir / "policy.toml"
    policy.write_text(policy_text(zone, hour, args.country, args.holiday, None), encoding="utf-8")
    say(f"burst at {burst:%H:%M} UTC: {hour}:00 in {zone}, {args.holiday} ({args.country})")
    gateway = GatewayCounter()
    env = {"CLIENT_CARE_POLICY": str(policy), "SMS_GATEWAY_URL": gateway.url}
    runs: list[Run] = []
    late = False
    try:
        async with local_stack(workdir) as ep:
            engine = make_engine(ep.database_url)
            client = await connect(ep)
            for token in counts:
                queue = f"scale-w{token}"
                side = Side(f"w{token}", True, None, dataclasses.replace(ep, task_queue=queue))
                side.policy, side.engine = load_policy(policy), engine
                runs.append(Run(int(token.rstrip("k")), side, kill=token.endswith("k")))
            env_of = {r.name: {**env, "TEMPORAL_DEPLOYMENT_NAME": r.queue} for r in runs}
            onboarders = [
                WorkerProcesses(r.side.endpoints, workdir, 1, f"onboard-{r.queue}") for r in runs
            ]
            for r, w in zip(runs, onboarders, strict=True):
                w.start(env_of[r.name])
            try:
                say(f"onboarding {args.clients:,} clients for each of {len(runs)} worker counts")
                took = await onboard_all(
                    client, [r.side for r in runs], args.clients, args.onboard_concurrency
                )
            finally:
                for w in onboarders:
                    await asyncio.to_thread(w.stop)
            late = datetime.now(UTC) >= burst
            say(f"onboarded in {took:,.0f} s, workers stopped; the burst at {burst:%H:%M:%S}")
            await asyncio.sleep(max(0.0, (burst - datetime.now(UTC)).total_seconds()))
            everyone = [w for r in runs for w in r.client_workflows]
            all_fired = await fired(client, everyone, args.cap * 60)
            say(f"every timer fired, {all_fired} s after the burst")
            for r in runs:
                await serve(r, args, client, engine, gateway, env_of[r.name])
                say(f"  {r.name}: auditor.py verify-projections")
                r.verify = await verify_projections(ep, workdir)
                await exactly_once(r, client, engine, gateway)
                say(f"  {r.name}: verify ok={r.verify.get('ok')}; {r.once.summary()}")
            engine.dispose()
    finally:
        gateway.close()

    raw = {
        r.name: {"problems": r.once.problems, "checked": r.once.checked, "share": r.share}
        for r in runs
    }
    (workdir / "raw.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    verdict = Verdict()
    facts: dict[str, Any] = {
        **machine(),
        "burst": f"{burst:%Y-%m-%d %H:%M} UTC ({hour}:00 {zone}, {args.holiday}); "
        f"{len(counts) * args.clients:,} clients onboarded in {took:,.0f} s"
        f"{', PAST the burst' if late else ''}; every timer fired (a task waiting, no worker) "
        f"{all_fired if all_fired is None else f'{all_fired:,.0f} s'} after",
        "per worker count": f"{args.clients:,} greetings due at once (backlog), then "
        f"{args.lifecycles} lifecycles, {args.concurrency} in flight",
    }
    table = [
        "| worker.py processes | load before → after (1/5/15 min) | all started | greetings "
        "written / sent | lifecycles/s (failed) | tasks per process | verify-projections "
        "| exactly once |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        written = f"{r.written_in:,.1f}" if r.written_in is not None else "not drained"
        sent = f"{r.sent_in:,.1f} s" if r.sent_in is not None else "not drained"
        ok = r.verify.get("ok") is True and r.verify.get("exit") == 0
        rebuilt = r.verify.get("rebuild", {})
        v = (
            f"match ({rebuilt.get('runs', '?')} runs)"
            if ok
            else f"FAIL: {r.verify.get('error') or len(r.verify.get('differences', []))} diff"
        )
        kill = " (one SIGKILLed mid-run)" if r.kill else ""
        share = " / ".join(f"{n:,}" for n in r.share)
        table.append(
            f"| {r.workers}{kill} | {r.load_before} → {r.load_after} | {r.started_in:,.1f} s | "
            f"{written} / {sent} | {r.rate:.2f} ({r.failed}) | {share} | {v} | "
            f"{r.once.summary()} |"
        )
        verdict.check(f"{r.name}: verify-projections matches", ok)
        verdict.check(f"{r.name}: nothing handled twice", r.once.ok)
        verdict.check(f"{r.name}: greetings drained", r.sent_in is not None)
    facts["table"] = "\n" + "\n".join(table)
    return verdict.report("scaling out", facts)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
