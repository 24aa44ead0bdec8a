"""Bad input at the process edge: `starter.py` answers with its JSON error on stderr and exit 2,
`auditor.py` with its one-line error and exit 2; neither prints a traceback. A reader that
stops reading (`| head`) changes neither the exit status nor stderr.

Each case runs the real entry point as a process, with no server, database or key ring: the
input is refused before any of them is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.cli import MAX_BODY_BYTES, MAX_BODY_DEPTH
from infra.keys import KeyRing
from infra.settings import ROOT
from tests.auditor.rig import ring_text
from tests.helpers.histories import newest

SAMPLE = newest("audit_sample.json")
DEEP = "[" * 100_000
HUGE_NUMBER = '{"aum": ' + "9" * 5_000 + "}"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIENT_CARE_", "TEMPORAL_"))}
    env["DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    env["TEMPORAL_ADDRESS"] = "127.0.0.1:9"
    return env


def run(
    entry: str,
    *argv: str | bytes,
    stdout: int | None = subprocess.PIPE,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, str(ROOT / entry), *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**_env(), **(env or {})},
        timeout=120,
    )


def starter_refusal(*argv: str | bytes) -> str:
    """The message of a usage refusal: exit 2, one JSON object on stderr, no traceback."""
    proc = run("starter.py", "complaint", "open", *argv)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    error = json.loads(stderr)
    assert error["error"] == "usage"
    return str(error["message"])


def write(tmp_path: Path, data: str | bytes) -> str:
    path = tmp_path / "body.json"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def test_json_nested_100000_deep(tmp_path: Path) -> None:
    assert "nested more than 32 levels" in starter_refusal("--json", DEEP)
    assert "nested more than 32 levels" in starter_refusal("--file", write(tmp_path, DEEP))


def test_nesting_is_refused_past_the_documented_depth_only() -> None:
    def nested(depth: int) -> str:
        return '{"a": ' * depth + "1" + "}" * depth

    assert "nested more than" in starter_refusal("--json", nested(MAX_BODY_DEPTH + 1))
    ok = run("starter.py", "client", "questionnaire", "--json", nested(MAX_BODY_DEPTH))
    assert ok.returncode == 0, ok.stderr.decode()


def test_invalid_utf8_in_a_file_and_on_the_command_line(tmp_path: Path) -> None:
    bad = b'{"content": "caf\xe9"}'
    assert "not UTF-8" in starter_refusal("--file", write(tmp_path, bad))
    assert "not UTF-8" in starter_refusal(b"--json", bad)


def test_a_5000_digit_number(tmp_path: Path) -> None:
    assert "more than 64 digits" in starter_refusal("--json", HUGE_NUMBER)
    assert "more than 64 digits" in starter_refusal("--file", write(tmp_path, HUGE_NUMBER))


def test_a_200_mb_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as f:  # sparse: no 200 MB written to the disk
        f.truncate(200 * 2**20)
    assert "larger than 1 MiB" in starter_refusal("--file", str(path))


def test_one_mib_is_the_limit_exactly(tmp_path: Path) -> None:
    def body(size: int) -> str:
        padding = size - len('{"x": ""}')
        return '{"x": "' + "a" * padding + '"}'

    exact = write(tmp_path, body(MAX_BODY_BYTES))
    assert run("starter.py", "client", "questionnaire", "--file", exact).returncode == 0
    over = write(tmp_path, body(MAX_BODY_BYTES + 1))
    assert "larger than 1 MiB" in starter_refusal("--file", over)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"aum": NaN}', "NaN"),
        ('{"aum": -Infinity}', "-Infinity"),
        ('{"channel": "hotline", "channel": "web"}', '"channel" twice'),
        ('{"channel": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_what_json_does_not_allow_is_named(text: str, says: str) -> None:
    assert says in starter_refusal("--json", text)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    assert "cannot read --file" in starter_refusal("--file", str(tmp_path / "nowhere.json"))
    assert "cannot read --file" in starter_refusal("--file", str(tmp_path))


def _closed_pipe() -> int:
    """The write end of a pipe nobody reads any more, as `| head` leaves it once it has
    exited: every write fails with EPIPE."""
    read, write_end = os.pipe()
    os.close(read)
    return write_end


@pytest.mark.parametrize(
    "argv",
    [
        ["starter.py", "client", "questionnaire"],
        [
            "auditor.py",
            "replay",
            "--history-file",
            str(SAMPLE),
            "--workflows",
            "tests.auditor.sample:ORIGINAL",
            "--json",
        ],
    ],
    ids=["starter", "auditor"],
)
def test_a_reader_that_stops_reading_changes_nothing(argv: list[str]) -> None:
    pipe = _closed_pipe()
    try:
        proc = run(argv[0], *argv[1:], stdout=pipe)
    finally:
        os.close(pipe)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def auditor_error(*argv: str, env: dict[str, str] | None = None) -> str:
    proc = run("auditor.py", *argv, env=env)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    [line] = stderr.strip().splitlines()
    return line


BAD_HISTORIES = [
    (DEEP.encode(), "nested too deeply"),
    (b'{"events": ["caf\xe9"]}', "not UTF-8"),
    (HUGE_NUMBER.encode(), "more than 64 digits"),
    (b"\x00" * 4096, "not valid JSON"),
]


@pytest.mark.parametrize(("content", "says"), BAD_HISTORIES, ids=["deep", "utf8", "digits", "junk"])
def test_a_bad_history_file_is_named_in_one_line(tmp_path: Path, content: bytes, says: str) -> None:
    bad = tmp_path / "complaint-x.json"
    bad.write_bytes(content)
    for argv in (["--history-file", str(bad)], ["--history-dir", str(tmp_path)]):
        line = auditor_error("replay", *argv)
        assert line.startswith("auditor.py replay: ") and str(bad) in line and says in line


def test_rebuilding_from_a_bad_export_is_named_in_one_line(
    tmp_path: Path, pg_url: str, keyring: KeyRing
) -> None:
    bad = tmp_path / "complaint-x.json"
    bad.write_bytes(DEEP.encode())
    env = {"DATABASE_URL": pg_url, "CLIENT_CARE_KEYS": ring_text(keyring)}
    argv = ["rebuild-projections", "--history-dir", str(tmp_path), "--schema", "bad_input"]
    line = auditor_error(*argv, env=env)
    assert str(bad) in line and "nested too deeply" in line


def test_a_history_dir_that_is_not_one(tmp_path: Path) -> None:
    assert "no such directory" in auditor_error("replay", "--history-dir", str(tmp_path / "no"))
    assert "no *.json" in auditor_error("replay", "--history-dir", str(tmp_path))
    assert "no such directory" in auditor_error("replay", "--history-dir", str(SAMPLE))
