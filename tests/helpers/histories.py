"""The replay corpus: `tests/histories/<release>/`, one folder per release, each holding the
histories that release's code recorded, kept for as long as a run recorded by that code can still
be open (README, "Deploying a change", step 7). Every history in every folder is replayed by
`tests/test_replay_saved_histories.py`; `tests/histories/README.md` says how to record one and
`patches.toml` which histories hold each side of every `workflow.patched` branch."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter

from infra.keys import KeyRing
from infra.temporal import data_converter

CORPUS = Path(__file__).resolve().parent.parent / "histories"
# The folder new recordings go to: name it after the release whose code records them, so that
# recording never overwrites what an earlier release's code did.
RELEASE = "2026-12"


def recording_dir() -> Path:
    folder = CORPUS / RELEASE
    folder.mkdir(exist_ok=True)
    return folder


def all_saved(pattern: str = "*.json") -> list[Path]:
    return sorted(CORPUS.glob(f"*/{pattern}"))


def newest(name: str) -> Path:
    """The latest release's history of that file name."""
    found = all_saved(name)
    assert found, f"no saved history named {name} in {CORPUS}"
    return found[-1]


def label(path: Path) -> str:
    """`<release>/<stem>`: unique across the corpus, for test ids and messages."""
    return f"{path.parent.name}/{path.stem}"


def uncoded_converter(keyring: KeyRing) -> DataConverter:
    """The production converter without its payload codec: what it records is saved readable,
    as the corpus keeps histories (the replay test encodes nothing)."""
    return dataclasses.replace(data_converter(keyring), payload_codec=None)


def uncoded_client(client: Client, keyring: KeyRing) -> Client:
    """`client`'s connection and namespace through `uncoded_converter`: a test whose history
    goes into the corpus runs its workers and commands through this."""
    return Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=uncoded_converter(keyring),
    )


def save_history(text: str, name: str, record_env: str, scratch: Path) -> Path:
    """Writes a recorded history: into the corpus when the environment variable `record_env`
    is "1", else into `scratch` (the test still proves it can be recorded)."""
    path = (recording_dir() if os.environ.get(record_env) == "1" else scratch) / name
    path.write_text(text)
    return path
