"""`bench/cadence_scale.py` runs end to end at a tiny size against its own dev server,
PostgreSQL and `worker.py` process. A benchmark is not a timed test, but one that no longer runs
is a figure nobody can re-measure: this one broke unnoticed when onboarding started sealing
clients' fields under keys in the read models' database (its commands had no engine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cadence_benchmark_parks_its_clients(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "DATABASE_URL")}
    script = ROOT / "bench" / "cadence_scale.py"
    size = ["--clients", "6", "--concurrency", "3", "--years", "0"]
    run = subprocess.run(
        [sys.executable, str(script), "--workdir", str(tmp_path), *size],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "PASS  all 6 clients parked" in run.stdout
    assert "RESULT: PASS" in run.stdout
