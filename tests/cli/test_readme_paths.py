"""Whatever the README's commands write stays out of `git status`: `.data/` or git-ignored."""

from __future__ import annotations

import re
import subprocess

from infra.settings import ROOT


def written_by_readme_commands() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = set(re.findall(r'"out_dir": "([^"]+)"', text))
    paths |= set(re.findall(r"> ([\w./-]+\.json)", text))  # shell redirections
    # `report build` without an out_dir writes reports-<period>/ (commands/report.py)
    for command in re.findall(r"report build --json '(\{[^']*\})'", text, flags=re.S):
        if "out_dir" not in command:
            [period] = re.findall(r'"period": "([^"]+)"', command)
            paths.add(f"reports-{period}")
    return paths


def test_the_readme_writes_only_ignored_paths() -> None:
    paths = written_by_readme_commands()
    assert "report-out" in paths, paths  # the parsing finds the README's out_dir
    # and `report build` given no out_dir, as a reader may run it, writes reports-<period>/
    paths.add("reports-2027")
    inside = [f"{p}/report.html" if not p.endswith(".json") else p for p in paths]
    tracked = [
        p
        for p in inside
        if subprocess.run(["git", "check-ignore", "-q", p], cwd=ROOT).returncode != 0
    ]
    assert tracked == [], f"README commands write paths git would show: {tracked}"
