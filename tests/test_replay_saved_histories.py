"""Every saved history under tests/histories/<release>/ must replay against the current code.

This is the guard against a non-deterministic change reaching running workflows: a history is
what a workflow already did, and its code must make the same decisions again. Histories are
saved either decrypted (`audit.sources.saved_json(history, codec)`, replays under any key) or
encrypted under the fixture key `tests.helpers.complaint_env.HISTORY_KEYRING`.

`tests/histories/patches.toml` names, for every `workflow.patched` id the workflows ask, a
history on each side of the branch; the checks below hold that file to the code and to the
histories it names.
"""

from __future__ import annotations

import ast
import json
import tomllib

from temporalio.client import WorkflowHistory
from temporalio.workflow import _Definition

from audit import replay, sources
from infra.settings import ROOT
from tests.auditor.sample import ORIGINAL as AUDITOR_SAMPLE
from tests.helpers.complaint_env import HISTORY_KEYRING
from tests.helpers.histories import CORPUS, all_saved
from workflows.registry import ALL_WORKFLOWS


async def test_every_saved_history_replays() -> None:
    paths = all_saved()
    assert paths, f"{CORPUS} holds no saved histories"
    assert not list(CORPUS.glob("*.json")), "a history outside a release folder"
    report = await replay.replay_files(
        paths, [*ALL_WORKFLOWS, *AUDITOR_SAMPLE], lambda: HISTORY_KEYRING
    )
    assert report.replayed == len(paths)
    assert report.ok, report.as_text()


def test_every_workflow_type_has_a_saved_history() -> None:
    """A type without a saved history has no guard: save one from a test that runs it."""
    saved = {sources.workflow_type(sources.from_file(p)) for p in all_saved()}
    registered = {str(_Definition.must_from_class(cls).name) for cls in ALL_WORKFLOWS}
    missing = sorted(registered - saved)
    assert not missing, f"no saved history in {CORPUS} for: {', '.join(missing)}"


def _constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }


def _patch_ids() -> dict[str, str]:
    """Every patch id the workflows ask (`patched` or `deprecate_patch`), with the call's name;
    an id given by a constant is resolved from its module (`ID`) or, for `module.ID`, from the
    workflows' module-level string constants."""
    found: dict[str, str] = {}
    trees = {p: ast.parse(p.read_text()) for p in sorted((ROOT / "workflows").rglob("*.py"))}
    anywhere = {k: v for tree in trees.values() for k, v in _constants(tree).items()}
    for path, tree in trees.items():
        constants = _constants(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("patched", "deprecate_patch") or not node.args:
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found[arg.value] = node.func.attr
            elif isinstance(arg, ast.Name) and arg.id in constants:
                found[constants[arg.id]] = node.func.attr
            elif isinstance(arg, ast.Attribute) and arg.attr in anywhere:
                found[anywhere[arg.attr]] = node.func.attr
            else:
                raise AssertionError(f"{path.name}:{node.lineno}: a patch id must be a constant")
    return found


def _markers(history: WorkflowHistory) -> set[str]:
    return {
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and "patch-data" in e.marker_recorded_event_attributes.details
    }


def _handled(history: WorkflowHistory) -> set[str]:
    """Signals and updates the run handled, activity types it scheduled, patches it marked."""
    names = _markers(history)
    for e in history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            names.add(e.activity_task_scheduled_event_attributes.activity_type.name)
        if e.HasField("workflow_execution_signaled_event_attributes"):
            names.add(e.workflow_execution_signaled_event_attributes.signal_name)
        if e.HasField("workflow_execution_update_accepted_event_attributes"):
            accepted = e.workflow_execution_update_accepted_event_attributes
            names.add(accepted.accepted_request.input.name)
    return names


def _manifest() -> dict[str, dict[str, object]]:
    return tomllib.loads((CORPUS / "patches.toml").read_text())


def test_the_patch_manifest_names_every_patch_the_code_asks() -> None:
    asked = _patch_ids()
    assert len(asked) >= 10, "the scan missed patches: it is broken"
    assert sorted(asked) == sorted(_manifest()), "tests/histories/patches.toml vs workflows/"


def test_both_sides_of_every_patch_are_in_the_corpus() -> None:
    """A patch whose old side is not replayed may break every run recorded before it; one whose
    new side is not replayed may be retired (`deprecate_patch`) wrongly. The old side has no
    marker and shows it passed the patch's place (`reached_by`: signals, updates, activity
    types or other patches' markers, all in that run; a chain's first run where only that asks
    it); the new side has the marker."""
    asked = _patch_ids()
    for patch, entry in _manifest().items():
        sides = {"new": True} | ({"old": False} if asked.get(patch) == "patched" else {})
        for side, marked in sides.items():
            path = CORPUS / str(entry[side])
            history = sources.from_file(path)
            assert sources.workflow_type(history) == entry["workflow"], path
            if not marked:
                reached = set(entry["reached_by"])  # type: ignore[call-overload]
                missing = reached - _handled(history)
                assert not missing, f"{path} never reaches {patch}: no {sorted(missing)}"
                if entry.get("first_run"):
                    started = history.events[0].workflow_execution_started_event_attributes
                    assert not started.continued_execution_run_id, f"{path}: a continued run"
            assert (patch in _markers(history)) is marked, f"{path}: not the {side} side of {patch}"


def test_every_history_in_the_corpus_is_a_file_of_a_release() -> None:
    """Release folders only, each named like the release (YYYY-MM, a suffix allowed)."""
    folders = sorted(p for p in CORPUS.iterdir() if p.is_dir())
    assert folders, "no release folder"
    for folder in folders:
        name = folder.name
        assert name[:4].isdigit() and name[4] == "-" and name[5:7].isdigit(), folder
        assert list(folder.glob("*.json")), f"{folder}: an empty release"
