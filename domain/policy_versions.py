"""Published policy versions: which policy a workflow acts under, and from when.

A firm changes its policy (a lower diamond threshold, a new platinum cadence) while clients are
served for decades. A published version has an id, the policy and an effective instant; every
live workflow is told of it (a `policy_published` signal, recorded in its history) and switches
when the instant comes. These rules are pure so the workflows, the commands and the tests agree
on them.

What a switch changes, per workflow:
- client service: the cadence, grace, greetings, continue-as-new period and tiers of everything
  planned from the switch on; duties already issued keep the due dates they were issued with.
- complaint: deadlines computed from the switch on (a later stage's, a reopening's); a deadline
  already set, and so already told to the complainant, is never recomputed, so never shortened.
- tier review: each review reads the version in force at its start.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict

from domain.identifiers import Key
from domain.policy import Policy


class PolicyVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version_id: Key
    effective_from: AwareDatetime
    policy: Policy

    @property
    def digest(self) -> str:
        return policy_digest(self.policy)


def policy_digest(policy: Policy) -> str:
    """A stable fingerprint of the policy's values (not of the file's layout or comments)."""
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class PolicyInForce(BaseModel):
    """What a workflow carries: the version it acts under (None: the worker's policy file at its
    start) and the one it has been told of that is not yet in force."""

    model_config = ConfigDict(extra="forbid")
    version_id: Key | None = None
    pending: PolicyVersion | None = None

    def told(self, version: PolicyVersion) -> bool:
        """Takes a published version; False when it changes nothing (a repeat, or older than
        the one pending). A later version replaces a pending one: publishing is in order."""
        if version.version_id in (self.version_id, self.pending and self.pending.version_id):
            return False
        if self.pending is not None and version.effective_from < self.pending.effective_from:
            return False
        self.pending = version
        return True

    def due(self, now: datetime) -> PolicyVersion | None:
        """The pending version when its instant has come; it is then in force."""
        if self.pending is None or self.pending.effective_from > now:
            return None
        version, self.pending = self.pending, None
        self.version_id = version.version_id
        return version

    @property
    def wake_at(self) -> datetime | None:
        return self.pending.effective_from if self.pending else None


def in_force(versions: list[PolicyVersion], at: datetime) -> PolicyVersion | None:
    """The latest version effective at `at` (by effective instant, then publication order)."""
    effective = [v for v in versions if v.effective_from <= at]
    return (
        max(enumerate(effective), key=lambda iv: (iv[1].effective_from, iv[0]))[1]
        if effective
        else None
    )
