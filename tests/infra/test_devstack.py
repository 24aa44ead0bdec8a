"""`make run`'s stack: starts every process, says where to look, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from infra.embedded_pg import free_port
from infra.settings import ROOT

READY = "Client Care is running"


def _stack_env(data_dir: Path) -> dict[str, str]:
    temporal = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CLIENT_CARE_KEYS")}
    return env | {
        "CLIENT_CARE_DATA_DIR": str(data_dir),
        "TEMPORAL_ADDRESS": f"localhost:{temporal}",
        "CODEC_SERVER_PORT": str(free_port()),
        "DEV_MAIL_SINK_PORT": str(free_port()),
        "DEV_SMS_SINK_PORT": str(free_port()),
        "CLIENT_CARE_PG_PORT": str(free_port()),
        "LOG_FORMAT": "json",
    }


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "devstack", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(
    proc: subprocess.Popen[str], found: Callable[[str], bool], timeout: float
) -> list[str]:
    """Output lines up to and including the first one `found` accepts; fails the test if the
    stack stops first, reports the year simulation failed, or `timeout` passes."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if found(line):
            return seen
        if "simulation failed" in line:
            break
    proc.kill()
    pytest.fail("the stack did not say what was expected:\n" + "".join(seen))


def _wait_ready(proc: subprocess.Popen[str], timeout: float = 180) -> str:
    seen = _read_until(proc, lambda line: READY in line, timeout)
    assert proc.stdout is not None
    # the addresses follow the ready line, up to the blank line that ends the block
    while (line := proc.stdout.readline()).strip():
        seen.append(line)
    return "".join(seen)


def _wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The rest of the first output line containing `prefix`."""
    last = _read_until(proc, lambda line: prefix in line, timeout)[-1]
    return last.split(prefix, 1)[1].strip()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def _counts(env: dict[str, str]) -> tuple[int, int, int]:
    url = f"postgresql://postgres@127.0.0.1:{env['CLIENT_CARE_PG_PORT']}/client_care"
    with psycopg.connect(url) as conn:
        clients = conn.execute("SELECT count(*), count(DISTINCT tier) FROM clients").fetchone()
        stages = conn.execute("SELECT count(DISTINCT stage) FROM complaints").fetchone()
    assert clients is not None and stages is not None
    return clients[0], clients[1], stages[0]


def _stop(proc: subprocess.Popen[str]) -> None:
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"


def _check_worklist(env: dict[str, str], data_dir: Path, banner: str) -> None:
    """The codec server the stack started serves the worklist: the demo's critical complaint in
    investigation past its deadline in wealth-ops is listed as breached, its diamond client owing
    a callback under *Overdue, diamond*, and the view is on record."""
    url = f"http://localhost:{env['CODEC_SERVER_PORT']}/worklist"
    assert f"Worklist         {url}" in banner
    token = (data_dir / "codec-token").read_text(encoding="utf-8").strip()
    query = urllib.parse.urlencode({"filter": "investigation-breached", "department": "wealth-ops"})
    request = urllib.request.Request(f"{url}?{query}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        assert resp.status == 200
        page = resp.read().decode()
    assert 'data-breached="true"' in page and "<td>critical</td>" in page
    # the ready link for the README's diamond search: the demo's diamond client owing a callback
    query = urllib.parse.urlencode({"filter": "overdue-duties", "tier": "diamond"})
    request = urllib.request.Request(f"{url}?{query}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        assert resp.status == 200
        page = resp.read().decode()
    assert 'data-workflow-id="client-demo-c-0001"' in page, page[-2000:]
    db = f"postgresql://postgres@127.0.0.1:{env['CLIENT_CARE_PG_PORT']}/client_care"
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM access_log"
            " WHERE action = 'worklist-view' AND workflow_id IS NOT NULL"
        ).fetchone()
    assert row is not None and row[0] >= 1


def test_stack_starts_with_demo_data_stops_cleanly_and_reuses_its_data(data_dir: Path) -> None:
    env = _stack_env(data_dir)
    proc = _start(env, "--small-demo")
    output = _wait_ready(proc)
    children = psutil.Process(proc.pid).children(recursive=True)
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "start-dev" in names and "worker.py" in names and "infra.codec_server" in names
    assert "infra.dev_sinks" in names
    assert "http://localhost:" in output and "/login" in output
    assert f"Sent messages    {data_dir / 'sent' / 'mail' / 'index.html'}" in output
    # The demo's complaints are acknowledged by SMS: the worker's dispatcher delivers them to
    # the local gateway, and the page lists them (names and numbers are the demo's own).
    sms = data_dir / "sent" / "sms.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (sms.exists() and sms.read_text().strip()):
        time.sleep(1)
    assert sms.read_text(encoding="utf-8").count("\n") > 0
    assert "SMS to" in (data_dir / "sent" / "mail" / "index.html").read_text(encoding="utf-8")
    assert (data_dir / "temporal.db").exists() and (data_dir / "postgres" / "PG_VERSION").exists()
    clients, tiers, stages = _counts(env)
    assert clients > 0 and tiers == 4 and stages >= 4, (clients, tiers, stages)
    _check_worklist(env, data_dir, output)
    # The simulated year behind the report follows in the background and says when it is done.
    report = _wait_for_line(proc, "Year report      ready: ", 300)
    assert Path(report).is_file() and report.endswith(".html")
    assert (data_dir / "demo-year" / "histories").is_dir()
    _stop(proc)

    again = _start(env, "--no-demo")
    _wait_ready(again)
    assert _counts(env) == (clients, tiers, stages)
    _stop(again)


def test_busy_port_is_refused_with_a_clear_message(data_dir: Path) -> None:
    env = _stack_env(data_dir)
    busy = int(env["CODEC_SERVER_PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", busy))
        holder.listen()
        proc = _start(env, "--no-demo")
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"codec server port {busy}" in out and "already in use" in out
    assert not (data_dir / "postgres").exists(), "nothing may start when a port is busy"
