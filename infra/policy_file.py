"""Reads the policy file: the shipped defaults, or the file CLIENT_CARE_POLICY names."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from domain.policy import Policy
from infra.settings import DEFAULT_POLICY, Settings


class PolicyFileError(Exception):
    """The policy file cannot be used; the message names the file and every bad field."""


def load_policy(path: Path | None = None) -> Policy:
    path = path or DEFAULT_POLICY
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PolicyFileError(f"policy file {path} does not exist") from exc
    except OSError as exc:  # a directory, no permission, …
        raise PolicyFileError(f"policy file {path} cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyFileError(f"policy file {path} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"policy file {path} is not valid TOML: {exc}") from exc
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PolicyFileError(f"policy file {path} is invalid: {problems}") from exc
    _check_holidays(policy, path)
    return policy


def _check_holidays(policy: Policy, path: Path) -> None:
    """A misspelt holiday would silently never be greeted: refuse it at start instead."""
    from domain.holiday_dates import unknown_names

    h = policy.holidays
    try:
        unknown = unknown_names(h.greet, date.today().year, h.country)
    except (KeyError, NotImplementedError, AttributeError) as exc:
        raise PolicyFileError(
            f"policy file {path} is invalid: holidays.country: no calendar for {h.country!r}"
        ) from exc
    if unknown:
        raise PolicyFileError(
            f"policy file {path} is invalid: holidays.greet: not in the {h.country} calendar: "
            + ", ".join(unknown)
        )


def policy_from_settings(settings: Settings) -> Policy:
    return load_policy(settings.client_care_policy)
