"""The rules of a deletion request under a retention hold (domain.client_service), and the hold
travelling with a published policy version."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.client import BasicInfo, ClientFile
from domain.client_service import ServiceState, relationship_ended, request_erasure
from domain.enums import ClientKind, ServiceStatus, Tier
from domain.policy import Policy
from domain.policy_versions import PolicyVersion
from infra.policy_file import load_policy
from infra.settings import DEFAULT_POLICY

SHIPPED = load_policy(DEFAULT_POLICY)
ONBOARDED = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def state() -> ServiceState:
    file = ClientFile(client_id="c-1", kind=ClientKind.INDIVIDUAL, basic=BasicInfo(name="Li"))
    return ServiceState(file=file, tier=Tier.GOLD, onboarded_at=ONBOARDED, seq=1)


def test_a_served_client_is_restricted_until_the_relationship_ends_plus_ten_years() -> None:
    s = state()
    asked = datetime(2026, 6, 1, tzinfo=UTC)
    held = request_erasure(s, asked, SHIPPED, "dpo-01", "REQ-1")
    assert held is not None and held.hold == "aml" and held.until is None
    assert s.status is ServiceStatus.CLOSED and s.restricted and s.file.basic.name == "Li"
    # Offboarded 2027-01-05 10:00 Shanghai: 10 years counted from the next day, ending at
    # 24:00 local of 2037-01-05 (DOMAIN §8).
    relationship_ended(s, datetime(2027, 1, 5, 2, 0, tzinfo=UTC), SHIPPED)
    assert s.restriction is not None
    assert s.restriction.until == datetime(2037, 1, 5, 16, 0, tzinfo=UTC)


def test_no_hold_or_a_hold_run_out_means_shred_at_once() -> None:
    assert request_erasure(state(), ONBOARDED, Policy(), "dpo-01", "REQ-1") is None
    s = state()
    relationship_ended(s, datetime(2010, 1, 1, tzinfo=UTC), SHIPPED)
    assert request_erasure(s, datetime(2026, 1, 1, tzinfo=UTC), SHIPPED, "dpo", "R") is None
    assert s.restriction is None and s.status is ServiceStatus.ACTIVE


def test_the_hold_travels_with_a_published_version() -> None:
    version = PolicyVersion(
        version_id="v-holds", effective_from=datetime(2027, 1, 1, tzinfo=UTC), policy=SHIPPED
    )
    again = PolicyVersion.model_validate_json(version.model_dump_json())
    assert again.policy.privacy == SHIPPED.privacy and again.digest == version.digest
    # A version published before the setting existed has no hold: shredding at once, as then.
    old = version.policy.model_dump(mode="json")
    del old["privacy"]
    assert Policy.model_validate(old).privacy.holds == []
