"""The instrument for running the suite on any date.

The calendar-sensitive tests onboard clients and open complaints at the time-skipping server's
"now", which starts at the wall clock: a birthday, a holiday, a month's or a year's end can fall
inside what they skip. `make test-dates` runs them again with the server started on each of the
year's hard days (tests/helpers/clock.py); here the suite checks that the instrument works.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.clock import ENV, faketime_library

ROOT = Path(__file__).resolve().parent.parent
# `make test-dates` runs these on each of HARD_DAYS (minutes each on a quiet machine).
CALENDAR_SENSITIVE = [
    "tests/workflows/test_client_onboarding.py",
    "tests/workflows/test_client_service.py",
    "tests/workflows/test_client_support.py",
    "tests/workflows/test_complaint_sla.py",
    "tests/workflows/test_complaint_timers.py",
    "tests/workflows/test_kpi_report.py",
]
HARD_DAYS = {
    # Month end before a short February, late in the evening local time (already the next
    # day in no zone, but the previous one in UTC).
    "2027-01-31T23:30:00+08:00": "a month end, the eve of Spring Festival season",
    "2028-02-29T08:00:00+08:00": "a leap day",
    "2027-12-31T22:00:00+08:00": "a year end",
}


def test_the_clock_really_is_injected(tmp_path: Path) -> None:
    """The instrument itself: a server started through it reports the injected instant."""
    probe = (
        "import asyncio\n"
        "from temporalio.testing import WorkflowEnvironment\n"
        "from tests.helpers.clock import time_skipping_server\n"
        "async def main():\n"
        "    env = await WorkflowEnvironment.start_time_skipping("
        "test_server_existing_path=time_skipping_server())\n"
        "    print((await env.get_current_time()).isoformat())\n"
        "    await env.shutdown()\n"
        "asyncio.run(main())\n"
        # The probe is about the clock: a bare script skips the interpreter teardown the SDK's
        # core threads can crash in (the commands avoid it with infra.logging.core_runtime).
        "import os, sys; sys.stdout.flush(); os._exit(0)\n"
    )
    env = {**os.environ, ENV: "2028-02-29T08:00:00+08:00"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith("2028-02-29T00:00"), done.stdout
    assert faketime_library().is_file()


def main() -> int:
    """`make test-dates`: the calendar-sensitive tests once per hard day; exit 1 on any failure."""
    failed = []
    for at, why in HARD_DAYS.items():
        print(f"== server starting at {at} ({why})", flush=True)
        argv = [sys.executable, "-m", "pytest", *CALENDAR_SENSITIVE, "-q", "-p", "no:cacheprovider"]
        if subprocess.run(argv, cwd=ROOT, env={**os.environ, ENV: at}, check=False).returncode:
            failed.append(at)
    print("all hard days passed" if not failed else f"failed on: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
