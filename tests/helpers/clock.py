"""The time-skipping server's starting instant, injectable.

The test server's clock starts at the wall clock, so a test that onboards a client "now" meets
whatever birthdays, holidays and month ends today brings. `CLIENT_CARE_TEST_NOW` (an ISO
timestamp, e.g. `2028-02-28T23:30:00+08:00`) starts every time-skipping server of the suite at
that instant instead, through libfaketime preloaded into the server process alone: the tests'
own process and PostgreSQL keep the real clock. tests/test_any_date.py runs the calendar-
sensitive tests this way on the hard dates of the year.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from infra.binaries import temporal_test_server

ENV = "CLIENT_CARE_TEST_NOW"


def injected_now() -> datetime | None:
    value = os.environ.get(ENV)
    if not value:
        return None
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError(f"{ENV} needs a time zone offset, e.g. 2028-02-28T23:30:00+08:00")
    return at.astimezone(UTC)


def faketime_library() -> Path:
    import libfaketime

    found = (
        Path(libfaketime.__file__).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
    )
    if not found.is_file():
        raise RuntimeError(f"libfaketime's library is missing at {found}: reinstall the dev extras")
    return found


def time_skipping_server() -> str:
    """The server binary, or a wrapper starting it at the injected instant."""
    real = temporal_test_server()
    at = injected_now()
    if at is None:
        return real
    wrapper = Path(tempfile.mkdtemp(prefix="ts-clock-")) / "temporal-test-server"
    # "@" starts the fake clock at the instant and lets it run from there; the monotonic clock
    # stays real so the server's own timeouts behave.
    wrapper.write_text(
        "#!/bin/sh\n"
        f'export LD_PRELOAD="{faketime_library()}" FAKETIME="@{at:%Y-%m-%d %H:%M:%S}" '
        "DONT_FAKE_MONOTONIC=1 TZ=UTC\n"
        f'exec "{real}" "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return str(wrapper)
