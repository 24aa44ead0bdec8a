"""The replay corpus: `tests/histories/<release>/`, one folder per release, each holding the
histories that release's code recorded, kept for as long as a run recorded by that code can still
be open (README, "Deploying a change", step 7). Every history in every folder is replayed by
`tests/test_replay_saved_histories.py`; `tests/histories/README.md` says how to record one and
`patches.toml` which histories hold each side of every `workflow.patched` branch."""

from __future__ import annotations

from pathlib import Path

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
