"""No unversioned worker ever runs a workflow type that declares a versioning behaviour.

The dev server (and any real cluster) refuses the workflow-task completions of such a worker
("versioning behavior cannot be specified without deployment options"), so the task retries
forever; the time-skipping test server would not notice. So every worker of the service's
workflows is built by `infra.deployment.versioned_worker` (worker.build_worker wraps it), and a
plain `temporalio.worker.Worker` may register only workflows that declare no behaviour (probes).
"""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine
from temporalio.common import VersioningBehavior
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorAutoscaling
from temporalio.workflow import _Definition

from activities.deps import ActivityDeps
from infra.keys import KeyRing
from infra.settings import ROOT, Settings
from projections.crypto import FieldCipher
from worker import Tuning, build_worker
from workflows.registry import ALL_WORKFLOWS

# README, "Deploying a change": why each type is what it is.
BEHAVIOUR = {
    "ComplaintWorkflow": VersioningBehavior.PINNED,
    "ComplaintMatterWorkflow": VersioningBehavior.PINNED,
    "TierReviewWorkflow": VersioningBehavior.PINNED,
    "KpiReportWorkflow": VersioningBehavior.PINNED,
    "ClientEventWorkflow": VersioningBehavior.PINNED,
    "PolicyRolloutWorkflow": VersioningBehavior.PINNED,
    "DataSubjectRequestWorkflow": VersioningBehavior.PINNED,
    "ClientServiceWorkflow": VersioningBehavior.AUTO_UPGRADE,
}
FACTORY = ROOT / "infra" / "deployment.py"


def _sources() -> list[Path]:
    skip = {".venv", ".data", ".git", "node_modules"}
    return [
        p
        for p in sorted(ROOT.rglob("*.py"))
        if not skip.intersection(p.relative_to(ROOT).parts) and p != FACTORY
    ]


def _declares_behaviour(node: ast.ClassDef) -> bool:
    return any(
        isinstance(d, ast.Call) and any(k.arg == "versioning_behavior" for k in d.keywords)
        for d in node.decorator_list
    )


def test_every_workflow_type_declares_its_behaviour() -> None:
    declared = {
        str(_Definition.must_from_class(cls).name): _Definition.must_from_class(
            cls
        ).versioning_behavior
        for cls in ALL_WORKFLOWS
    }
    assert declared == BEHAVIOUR


def test_no_plain_worker_runs_a_versioned_workflow_type() -> None:
    trees = {p: ast.parse(p.read_text(), str(p)) for p in _sources()}
    versioned = {
        node.name
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and _declares_behaviour(node)
    }
    assert {cls.__name__ for cls in ALL_WORKFLOWS} <= versioned, "the scan is broken"
    plain = 0
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id != "Worker":
                continue
            plain += 1
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            (workflows,) = [k.value for k in node.keywords if k.arg == "workflows"] or [None]
            assert isinstance(workflows, ast.List), (
                f"{where}: a plain Worker names its workflows in a list literal, "
                "or is built by infra.deployment.versioned_worker"
            )
            names = {e.id for e in workflows.elts if isinstance(e, ast.Name)}
            assert len(names) == len(workflows.elts), f"{where}: workflows by class name only"
            assert not names & versioned, (
                f"{where}: {sorted(names & versioned)} declare a versioning behaviour; "
                "build this worker with infra.deployment.versioned_worker"
            )
    assert plain, "the scan found no plain Worker at all (the probes use one): it is broken"


async def test_the_worker_runs_with_the_tuning_its_settings_give(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """Cache, slots and pollers are set from `WORKER_*`, not left to the SDK's defaults, and the
    activity slots are the thread pool's size."""
    settings = Settings(
        worker_cached_workflows=123,
        worker_workflow_task_slots=45,
        worker_activity_slots=6,
        worker_max_pollers=7,
    )
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    with ThreadPoolExecutor(max_workers=settings.worker_activity_slots) as pool:
        worker = build_worker(
            ts_env.client, "tuned", deps, pool,
            tuning=Tuning.of(settings), activity_slots=settings.worker_activity_slots,
        )  # fmt: skip
        config = worker.config()
    assert config["max_cached_workflows"] == 123
    assert config["max_concurrent_workflow_tasks"] == 45
    assert config["max_concurrent_activities"] == 6
    for poller in ("workflow_task_poller_behavior", "activity_task_poller_behavior"):
        behavior = config[poller]  # type: ignore[literal-required]
        assert isinstance(behavior, PollerBehaviorAutoscaling) and behavior.maximum == 7
