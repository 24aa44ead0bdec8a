"""Replays histories against the current workflow code and names every run it cannot replay."""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from audit import payloads, sources
from audit.sources import started
from infra.keys import KeyRing, new_key_entry
from infra.temporal import data_converter

DEFAULT_REGISTRY = "workflows.registry:ALL_WORKFLOWS"


@dataclass(frozen=True)
class ReplayFinding:
    workflow_id: str
    run_id: str
    workflow_type: str
    kind: str
    """`nondeterminism` (the code now issues different commands than the history recorded) or
    `failure` (anything else that stops replay: an unregistered type, an undecodable payload)."""
    message: str


@dataclass
class ReplayReport:
    replayed: int = 0
    findings: list[ReplayFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def merge(self, other: ReplayReport) -> None:
        self.replayed += other.replayed
        self.findings += other.findings

    def as_json(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "ok": self.ok,
            "findings": [asdict(f) for f in self.findings],
        }

    def as_text(self) -> str:
        lines = [
            f"{f.kind.upper()}: {f.workflow_id} (run {f.run_id}, {f.workflow_type}): {f.message}"
            for f in self.findings
        ]
        verdict = "ok" if self.ok else f"{len(self.findings)} cannot be replayed"
        lines.append(f"replayed {self.replayed} run(s): {verdict}")
        return "\n".join(lines)


def load_workflows(spec: str = DEFAULT_REGISTRY) -> list[type]:
    """The workflow classes named by `module:attribute`, imported only when replay needs them."""
    module, _, attr = spec.partition(":")
    classes = list(getattr(importlib.import_module(module), attr or "ALL_WORKFLOWS"))
    if not classes:
        raise ValueError(f"{spec} lists no workflow classes")
    return classes


# The core wraps its reason in a debug dump of the failure; the reason is what people need.
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
# The failure converter encrypts a worker-side error's message ("Encoded failure"); its type
# stays readable, and says what stopped the replay (e.g. PayloadPlaceError: a moved payload).
_CORE_TYPE = re.compile(r'r#type: "(\w+)"')


def _finding(history: WorkflowHistory, failure: Exception) -> ReplayFinding:
    kind = "nondeterminism" if isinstance(failure, NondeterminismError) else "failure"
    text = str(failure)
    found = _CORE_MESSAGE.search(text)
    message = found.group(1) if found else text
    error = _CORE_TYPE.search(text)
    if error is not None and error.group(1) not in message:
        message = f"{message} ({error.group(1)})"
    return ReplayFinding(
        workflow_id=history.workflow_id,
        run_id=history.run_id,
        workflow_type=started(history).workflow_type.name,
        kind=kind,
        message=message,
    )


def replay_namespace(namespace: str | None = None) -> str:
    """The namespace histories are replayed in: their payloads are bound to the namespace they
    were written in (infra.codec), and the SDK's Replayer would otherwise bind its codec to a
    namespace of its own. An export does not say where it came from: the settings' namespace
    (`TEMPORAL_NAMESPACE`) is taken for it."""
    if namespace is not None:
        return namespace
    from infra.settings import get_settings

    return get_settings().temporal_namespace


def replayer(
    workflows: Sequence[type], converter: DataConverter, namespace: str | None = None
) -> Replayer:
    return Replayer(
        workflows=workflows, data_converter=converter, namespace=replay_namespace(namespace)
    )


async def replay(
    histories: AsyncIterator[WorkflowHistory],
    workflows: Sequence[type],
    converter: DataConverter,
    namespace: str | None = None,
) -> ReplayReport:
    """Replays every history (the code must make the same decisions it recorded) and collects
    a finding per run that fails, rather than stopping at the first."""
    return await replay_with(replayer(workflows, converter, namespace), histories)


async def replay_with(
    replayer: Replayer, histories: AsyncIterator[WorkflowHistory]
) -> ReplayReport:
    """`replay` with a Replayer already made (a replay process keeps one per converter)."""
    report = ReplayReport()
    async with replayer.workflow_replay_iterator(histories) as results:
        async for result in results:
            report.replayed += 1
            if result.replay_failure is not None:
                report.findings.append(_finding(result.history, result.replay_failure))
    return report


async def replay_files(
    paths: Sequence[Path],
    workflows: Sequence[type],
    keyring: Callable[[], KeyRing],
    namespace: str | None = None,
) -> ReplayReport:
    """Replays JSON exports. Encrypted ones (a CLI export) go through the project's encrypting
    converter; decrypted ones (as `tests/histories/` keeps them, so they replay under any key)
    through the same converter without the codec, which would rightly refuse plaintext."""
    return await replay_loaded(
        [sources.from_file(path) for path in paths],
        lambda encrypted: replayer(
            workflows,
            data_converter(keyring()) if encrypted else plain_converter(),
            namespace,
        ),
    )


async def replay_loaded(
    histories: Sequence[WorkflowHistory], replayer: Callable[[bool], Replayer]
) -> ReplayReport:
    """Exported histories, each through the Replayer `replayer(encrypted)` gives: with the
    decrypting converter or, for a decrypted copy, the plain one."""
    encrypted = [h for h in histories if payloads.is_encrypted(h)]
    plain = [h for h in histories if not payloads.is_encrypted(h)]
    report = ReplayReport()
    if encrypted:
        report.merge(await replay_with(replayer(True), sources.from_list(encrypted)))
    if plain:
        report.merge(await replay_with(replayer(False), sources.from_list(plain)))
    return report


def plain_converter() -> DataConverter:
    """The project's converter minus encryption (built from it, with a key that is never used,
    so the payload and failure conversion cannot drift from the live one)."""
    unused = KeyRing.parse(new_key_entry("unused"))
    return dataclasses.replace(data_converter(unused), payload_codec=None)
