"""One renderer for structlog events and Temporal's stdlib logger records, personal data masked."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

from infra.settings import ROOT


def _run(code: str, env_format: str) -> list[dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"LOG_FORMAT": env_format, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]


def test_structlog_and_stdlib_records_render_as_json_lines() -> None:
    lines = _run(
        """
        import logging
        from infra.logging import configure_logging, get_logger
        configure_logging()
        get_logger("worker").info("started", task_queue="client-care")
        logging.getLogger("temporalio.workflow").warning("timer fired")
        """,
        "json",
    )
    events = {line["event"]: line for line in lines}
    assert events["started"]["task_queue"] == "client-care"
    assert events["started"]["level"] == "info"
    assert events["timer fired"]["logger"] == "temporalio.workflow"
    assert events["timer fired"]["level"] == "warning"


def test_personal_data_is_masked_in_every_line() -> None:
    lines = _run(
        """
        import logging
        from infra.logging import configure_logging, get_logger
        configure_logging()
        get_logger("x").info("call 13812345678 or mail li.lei@example.com", name="Li Lei")
        logging.getLogger("temporalio.activity").info("id 11010519491231002X on file")
        """,
        "json",
    )
    text = json.dumps(lines)
    for secret in ("13812345678", "li.lei@example.com", "Li Lei", "11010519491231002X"):
        assert secret not in text
    assert len(lines) == 2


def test_console_format_when_asked() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from infra.logging import configure_logging, get_logger;"
            "configure_logging(); get_logger('w').info('hello')",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"LOG_FORMAT": "console", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert "hello" in proc.stderr and not proc.stderr.lstrip().startswith("{")
    assert logging.getLogger().level is not None


def test_a_core_log_record_arrives_through_structlog_before_the_runtime_is_torn_down() -> None:
    """The SDK's Rust core logs through `core_runtime`'s forwarding; the last batch must arrive
    even when the process ends right after it (as a short command does)."""
    lines = _run(
        """
        from temporalio.runtime import Runtime
        from infra.logging import configure_logging, core_runtime
        configure_logging()
        with core_runtime("INFO"):
            Runtime.default()._core_runtime.write_test_info_log("core probe", "from the test")
        """,
        "json",
    )
    [core] = [line for line in lines if "core probe" in str(line["event"])]
    assert str(core["logger"]).startswith("temporalio.core")
    assert core["level"] == "info"
