"""`make run`: the whole stack on this machine, with demo data, until Ctrl-C.

Temporal dev server (state and UI), embedded PostgreSQL (unless DATABASE_URL is set), schema
migrations, codec server, worker, demo data; then, in the background, a simulated year for the
report. Everything persists under .data/ and is reused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from temporalio.common import WorkerDeploymentVersion

from commands.demo_year import RESULT_FILE
from infra import deployment
from infra.binaries import MissingBinaryError, temporal_cli
from infra.database import DEV_PG_PORT, database_url
from infra.deployment import dev_server_flags, worker_version
from infra.embedded_pg import EmbeddedPostgres, PostgresStartError
from infra.keys import load_codec_token, load_keyring
from infra.policy_file import PolicyFileError, policy_from_settings
from infra.processes import Supervisor, port_in_use, wait_for_port
from infra.settings import DATA_DIR, ROOT, Settings
from infra.temporal import connect, search_attribute_flags
from workflows import search_attributes

MIN_FREE_DISK = 512 * 1024 * 1024


class StackError(Exception):
    """Something the stack needs is not there; the message says what."""


def _temporal_port(settings: Settings) -> int:
    host, _, port = settings.temporal_address.rpartition(":")
    if host not in ("localhost", "127.0.0.1", "[::1]"):
        raise StackError(
            f"TEMPORAL_ADDRESS={settings.temporal_address} is not local; the dev stack starts its "
            "own Temporal server. Use --external-temporal to use that cluster instead."
        )
    return int(port)


def preflight(settings: Settings, external_temporal: bool) -> dict[str, int]:
    """Checks ports, disk and binaries before anything starts, so a failure leaves nothing."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(DATA_DIR).free < MIN_FREE_DISK:
        raise StackError(f"less than 512 MiB free under {DATA_DIR}")
    ports: dict[str, int] = {"codec server": settings.codec_server_port}
    if _sinks_wanted(settings):
        ports |= {"mail sink": settings.dev_mail_sink_port, "SMS sink": settings.dev_sms_sink_port}
    if not external_temporal:
        temporal_cli()
        port = _temporal_port(settings)
        ports |= {"Temporal frontend": port, "Temporal UI": port + 1000}
    if settings.database_url is None:
        ports["PostgreSQL"] = DEV_PG_PORT
    busy = [f"{name} port {port}" for name, port in ports.items() if port_in_use(port)]
    if busy:
        raise StackError(
            f"already in use: {', '.join(busy)}. Is another `make run` running? Stop it, or "
            "free the port."
        )
    return ports


SINK_DIR = DATA_DIR / "sent"


def _sinks_wanted(settings: Settings) -> bool:
    """The local mail and SMS sinks stand in for the firm's, unless real ones are configured."""
    return settings.smtp_host is None and settings.sms_gateway_url is None


def _sink_env(settings: Settings) -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(settings.dev_mail_sink_port),
        "SMTP_STARTTLS": "false",
        "SMTP_FROM": "Client Care (dev) <client-care@localhost>",
        "SMS_GATEWAY_URL": f"http://127.0.0.1:{settings.dev_sms_sink_port}/sms",
        "SMS_GATEWAY_TOKEN": "dev-sink",
    }


def _print_where_to_look(ports: dict[str, int], settings: Settings, db_url: str) -> None:
    ui = ports.get("Temporal UI")
    lines = [
        "",
        "Client Care is running. Ctrl-C stops everything.",
        f"  Temporal UI      http://localhost:{ui}  (payloads decoded through the codec server)"
        if ui
        else f"  Temporal         {settings.temporal_address}",
        f"  Temporal gRPC    {settings.temporal_address}  namespace {settings.temporal_namespace}",
        f"  Codec server     http://localhost:{settings.codec_server_port}"
        "  (token in .data/codec-token)",
        f"  Decoded UI       sign in once at http://localhost:{settings.codec_server_port}/login"
        " with that token, then in the UI's codec settings tick 'Include cross-origin credentials'",
        f"  Worklist         http://localhost:{settings.codec_server_port}/worklist"
        "  (supervisors: open complaints, overdue callbacks; after that sign-in)",
        f"  PostgreSQL       {db_url.replace('+psycopg', '')}",
        f"  Logs             {DATA_DIR / 'logs'}",
        f"  Sent messages    {SINK_DIR / 'mail' / 'index.html'}  (e-mail in the Maildir "
        f"{SINK_DIR / 'mail'}, SMS in {SINK_DIR / 'sms.jsonl'}; "
        "outbox: starter.py notification list)"
        if _sinks_wanted(settings)
        else f"  Sent messages    through {settings.smtp_host or '-'} (SMTP) and "
        f"{settings.sms_gateway_url or '-'} (SMS); outbox: starter.py notification list",
        "  Try              .venv/bin/python starter.py complaint show <id>   |   "
        ".venv/bin/python auditor.py history client-<id>",
        "  Saved searches   ComplaintStage='investigation' AND SlaBreached=true  (see README)",
        "",
    ]
    print("\n".join(lines), flush=True)


YEAR_DIR = DATA_DIR / "demo-year"
YEAR_SIZES = {False: {"clients": 300, "complaints": 300}, True: {"clients": 24, "complaints": 24}}


def _year_report() -> tuple[str, dict[str, int]] | None:
    """The report of the simulated year already built with these sizes, if any."""
    try:
        done = json.loads((YEAR_DIR / RESULT_FILE).read_text(encoding="utf-8"))
        return str(done["report"]), done["size"]
    except (OSError, ValueError, KeyError):
        return None


def _start_demo_year(supervisor: Supervisor, env: dict[str, str], *, small: bool) -> str:
    """The simulated year runs beside the stack (a few minutes); built once, then reused."""
    size = YEAR_SIZES[small]
    built = _year_report()
    if built is not None and {k: built[1].get(k) for k in size} == size:
        return f"  Year report      {built[0]}  (simulated year; `starter.py demo year` redoes it)"
    body = {**size, "out_dir": str(YEAR_DIR)}
    argv = [sys.executable, str(ROOT / "starter.py"), "demo", "year", "--json", json.dumps(body)]
    supervisor.start_job("demo-year", argv, env)
    return (
        f"  Year report      simulating a year of {size['clients']} clients and "
        f"{size['complaints']} complaints in the background (a few minutes; log in "
        f"{DATA_DIR / 'logs' / 'demo-year.log'}); its path is printed here when it is ready"
    )


def _demo_year_finished(code: int) -> str:
    built = _year_report() if code == 0 else None
    if built is None:
        return f"  Year report      the simulation failed (exit {code}); see {DATA_DIR / 'logs'}"
    return (
        f"  Year report      ready: {built[0]}\n"
        f"                   its read models are in the *_demo_year database, its histories in "
        f"{YEAR_DIR / 'histories'} (auditor.py replay --history-dir ...)"
    )


def _await_routing(
    settings: Settings,
    worker: subprocess.Popen[bytes],
    version: WorkerDeploymentVersion,
    ours: bool,
) -> None:
    """Until the deployment has a current version (`ours`: this worker's), so the demo's
    workflows start on a version that has workers."""

    async def routed() -> str | None:
        client = await connect(settings)
        for _ in range(120):
            if worker.poll() is not None:
                raise StackError(f"the worker stopped; see {DATA_DIR / 'logs' / 'worker.log'}")
            now = await deployment.routing(client, version.deployment_name)
            if now is not None and now.current is not None:
                if now.current == version.build_id or not ours:
                    return now.current
            await asyncio.sleep(1)
        return None

    current = asyncio.run(routed())
    if current is None:
        raise StackError(f"no current version of deployment {version.deployment_name} after 2 min")
    if current != version.build_id:
        print(f"note: new work goes to build {current}, not this worker's {version.build_id}")


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        policy_from_settings(settings)  # refuse a bad policy file before starting anything
        ports = preflight(settings, args.external_temporal)
        load_keyring(settings, create_dev_key=True)
        load_codec_token(settings, create_dev_token=True)
    except (StackError, PolicyFileError, MissingBinaryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    supervisor = Supervisor(DATA_DIR / "logs")
    pg: EmbeddedPostgres | None = None
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if settings.database_url is None:
            print(
                f"starting PostgreSQL on 127.0.0.1:{DEV_PG_PORT} (data in {DATA_DIR / 'postgres'})"
            )
            pg = EmbeddedPostgres(DATA_DIR / "postgres", DEV_PG_PORT)
            pg.start()
        db_url = database_url(settings)
        from projections.migrate import upgrade

        print("applying schema migrations")
        upgrade(db_url)

        env = {"DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
        if not args.external_temporal:
            port = _temporal_port(settings)
            print(f"starting Temporal dev server on :{port}, UI on :{port + 1000}")
            temporal = supervisor.start(
                "temporal",
                [
                    temporal_cli(),
                    "server",
                    "start-dev",
                    "--db-filename",
                    str(DATA_DIR / "temporal.db"),
                    "--ip",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--ui-port",
                    str(port + 1000),
                    "--namespace",
                    settings.temporal_namespace,
                    "--ui-codec-endpoint",
                    f"http://localhost:{settings.codec_server_port}",
                    "--log-level",
                    "warn",
                    *search_attribute_flags(search_attributes.ALL),
                    *dev_server_flags(),
                ],
            )
            wait_for_port(port, temporal, 60, "the Temporal dev server")

        print(f"starting codec server on :{settings.codec_server_port}")
        codec = supervisor.start("codec-server", [sys.executable, "-m", "infra.codec_server"], env)
        wait_for_port(settings.codec_server_port, codec, 30, "the codec server")

        worker_env = dict(env)
        if _sinks_wanted(settings):
            print(f"starting the mail and SMS sinks (messages under {SINK_DIR})")
            sink = supervisor.start(
                "sinks",
                [
                    sys.executable,
                    "-m",
                    "infra.dev_sinks",
                    str(SINK_DIR),
                    str(settings.dev_mail_sink_port),
                    str(settings.dev_sms_sink_port),
                ],
                env,
            )
            wait_for_port(settings.dev_sms_sink_port, sink, 30, "the SMS sink")
            wait_for_port(settings.dev_mail_sink_port, sink, 30, "the mail sink")
            worker_env |= _sink_env(settings)

        version = worker_version(settings)
        print(f"starting worker (deployment version {version.to_canonical_string()})")
        # The stack's own server runs the code in this tree: its version takes new work at once.
        # On an external cluster the routing is a rollout's decision ("Deploying a change").
        set_current = {} if args.external_temporal else {"TEMPORAL_WORKER_SET_CURRENT": "always"}
        worker = supervisor.start(
            "worker", [sys.executable, str(ROOT / "worker.py")], worker_env | set_current
        )
        _await_routing(settings, worker, version, ours=not args.external_temporal)

        if not args.no_demo:
            print("loading demo data through the workflows")
            from commands.demo import load_demo_sync

            os.environ["DATABASE_URL"] = db_url
            load_demo_sync(settings, small=args.small_demo)

        _print_where_to_look(ports, settings, db_url)
        if not (args.no_demo or args.no_year):
            print(_start_demo_year(supervisor, env, small=args.small_demo), flush=True)
        if args.exit_after_start:
            return 0
        while not stopping:
            for _name, code in supervisor.finished_jobs():
                print(_demo_year_finished(code), flush=True)
            dead = supervisor.failed()
            if dead:
                print(f"error: {', '.join(dead)} stopped; see {DATA_DIR / 'logs'}", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print("stopping")
        return 0
    except (StackError, PostgresStartError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop_all()
        if pg is not None:
            pg.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--no-demo", action="store_true", help="start without loading demo data")
    parser.add_argument("--small-demo", action="store_true", help="a handful of demo records")
    parser.add_argument(
        "--no-year", action="store_true", help="skip the simulated year behind the report"
    )
    parser.add_argument(
        "--external-temporal",
        action="store_true",
        help="use the cluster at TEMPORAL_ADDRESS instead of starting a dev server",
    )
    parser.add_argument("--exit-after-start", action="store_true", help=argparse.SUPPRESS)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
