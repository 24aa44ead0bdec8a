"""Progress goes to stderr: a bar on a terminal, one line or nothing elsewhere."""

from __future__ import annotations

import re
import sys

import pytest

from infra.progress import per_item, progress_bar


def test_off_a_terminal_one_summary_line_or_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("loading", 3) as advance:
        advance()
        advance(2, description="ignored off a terminal")
    out = capsys.readouterr()
    assert out.out == "" and re.fullmatch(r"loading: 3 in \d+\.\ds\n", out.err)
    with progress_bar("quiet", 2, summary=False) as advance:
        per_item(advance)("a finished item")
    assert capsys.readouterr().err == ""


def test_on_a_terminal_a_bar_with_the_latest_description(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with progress_bar("report", 2) as advance:
        advance(description="chart one")
        advance(description="written")
    out = capsys.readouterr()
    assert out.out == ""
    assert "written" in out.err and "2/2" in out.err
