"""Every saved history under tests/histories/ must replay against the current workflow code.

This is the guard against a non-deterministic change reaching running workflows: a history is
what a workflow already did, and its code must make the same decisions again. Histories are
saved either decrypted (`audit.sources.saved_json(history, codec)`, replays under any key) or
encrypted under the fixture key `tests.helpers.complaint_env.HISTORY_KEYRING`.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.workflow import _Definition

from audit import replay, sources
from tests.auditor.sample import ORIGINAL as AUDITOR_SAMPLE
from tests.helpers.complaint_env import HISTORY_KEYRING
from workflows.registry import ALL_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories"


def _saved() -> list[Path]:
    return sorted(HISTORIES.rglob("*.json"))


async def test_every_saved_history_replays() -> None:
    paths = _saved()
    assert paths, f"{HISTORIES} holds no saved histories"
    report = await replay.replay_files(
        paths, [*ALL_WORKFLOWS, *AUDITOR_SAMPLE], lambda: HISTORY_KEYRING
    )
    assert report.replayed == len(paths)
    assert report.ok, report.as_text()


def test_every_workflow_type_has_a_saved_history() -> None:
    """A type without a saved history has no guard: save one from a test that runs it."""
    saved = {sources.workflow_type(sources.from_file(p)) for p in _saved()}
    registered = {str(_Definition.must_from_class(cls).name) for cls in ALL_WORKFLOWS}
    missing = sorted(registered - saved)
    assert not missing, f"no saved history in {HISTORIES} for: {', '.join(missing)}"
