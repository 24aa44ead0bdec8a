"""`python auditor.py` as operators run it: a process, settings from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from audit import sources
from tests.helpers.histories import newest

ROOT = Path(__file__).resolve().parents[2]
SAVED = newest("audit_sample.json")


def _auditor(*argv: str) -> subprocess.CompletedProcess[str]:
    # No key ring, server or database: replaying a decrypted file needs none of them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIENT_CARE_", "TEMPORAL_"))}
    env["DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    return subprocess.run(
        [sys.executable, str(ROOT / "auditor.py"), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_replay_of_a_saved_file_exits_zero_then_one_naming_the_workflow() -> None:
    workflow_id = sources.from_file(SAVED).workflow_id
    same = _auditor(
        "replay", "--history-file", str(SAVED), "--workflows", "tests.auditor.sample:ORIGINAL"
    )
    assert (same.returncode, same.stdout.strip()) == (0, "replayed 1 run(s): ok"), same.stderr

    changed = _auditor(
        "replay",
        "--history-file",
        str(SAVED),
        "--workflows",
        "tests.auditor.sample:REORDERED",
        "--json",
    )
    assert changed.returncode == 1, changed.stderr
    [finding] = json.loads(changed.stdout)["findings"]
    assert (finding["workflow_id"], finding["kind"]) == (workflow_id, "nondeterminism")


def test_usage_and_input_errors_exit_two() -> None:
    assert _auditor("no-such-command").returncode == 2
    assert _auditor("replay", "--workflow-id", "a", "--query", "b").returncode == 2
    missing = _auditor("replay", "--history-file", "nowhere.json")
    assert missing.returncode == 2 and "nowhere.json" in missing.stderr
    assert _auditor("--help").returncode == 0
