"""The shipped policy file, overrides, and refusals that name the bad field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from domain.enums import Tier
from domain.periods import Period
from domain.policy import HeldRecords, Policy, PrivacyPolicy, RetentionHold
from infra.policy_file import PolicyFileError, load_policy
from infra.settings import DEFAULT_POLICY, Settings


def test_shipped_file_holds_exactly_the_documented_defaults() -> None:
    # but for one setting the file turns on: a model default is what a policy written before
    # the setting means (running workflows carry such policies), so `greeting_spread` is off
    # by default in the model and on in the file new workflows start under
    # (the same for `privacy.holds`: none in the model, the AML hold in the file; and for
    # `complaints.extension_approvers`: anyone but the handler in the model, the role's holders
    # in the file)
    shipped = Policy().service.model_copy(update={"greeting_spread": Period.parse("PT4H")})
    aml = RetentionHold(
        name="aml",
        records=[HeldRecords.IDENTITY, HeldRecords.TRANSACTIONS],
        keep_for=Period.parse("P10Y"),
        basis="Anti-Money Laundering Law: customer identity and transaction records",
    )
    approvers = Policy().complaints.model_copy(
        update={"extension_approvers": ["sup-01", "director-02"]}
    )
    assert load_policy(DEFAULT_POLICY) == Policy().model_copy(
        update={"service": shipped, "privacy": PrivacyPolicy(holds=[aml]), "complaints": approvers}
    )


def test_override_sets_a_test_deadline_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[complaints]\ndecision_within = "PT20S"\n')
    policy = load_policy(path)
    assert policy.complaints.decision_within.exact == timedelta(seconds=20)
    assert policy.service.callback_every[Tier.DIAMOND].months == 1


def _hold(
    keep_for: str, *, records: str = '["identity", "transactions"]', name: str = "aml"
) -> str:
    return f'[[privacy.holds]]\nname = "{name}"\nrecords = {records}\n{keep_for}\nbasis = "AML"\n'


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[complaints]\ndecision_within = "fifteen days"\n', "complaints.decision_within"),
        ("[tiers]\ndowngrade_after_reviews = 0\n", "tiers.downgrade_after_reviews"),
        ('timezone = "Mars/Olympus"\n', "timezone"),
        ("[service]\ncontact_hour = 25\n", "service.contact_hour"),
        ("[complaints]\nunknown_knob = 1\n", "complaints.unknown_knob"),
        ("[tiers.gold]\naum = 99999999999\n", "tiers"),
        ('[holidays]\ngreet = ["Mid-Autumn Festival", "Moon Landing Day"]\n', "holidays.greet"),
        ('[holidays]\ncountry = "XX"\n', "holidays.country"),
        # a retention hold: at least the AML law's 10 years, named, of known records, once each
        (_hold('keep_for = "P5Y"'), "at least P10Y"),
        (_hold('keep_for = "P10Y"', records='["identity", "identity"]'), "listed twice"),
        (_hold('keep_for = "P10Y"', records='["emails"]'), "privacy.holds.0.records.0"),
        (_hold('keep_for = "P10Y"', records="[]"), "privacy.holds.0.records"),
        (_hold('keep_for = "ten years"'), "privacy.holds.0.keep_for"),
        (_hold('keep_for = "P10Y"', name="AML Hold!"), "privacy.holds.0.name"),
        (_hold('keep_for = "P10Y"') + _hold('keep_for = "P12Y"'), "share a name"),
    ],
)
def test_invalid_file_is_refused_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyFileError) as err:
        load_policy(path)
    assert field in str(err.value)
    assert str(path) in str(err.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[complaints\n")
    with pytest.raises(PolicyFileError, match="not valid TOML"):
        load_policy(bad)


def test_settings_use_the_contract_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name, value in {
        "TEMPORAL_ADDRESS": "temporal.example:7233",
        "TEMPORAL_NAMESPACE": "care",
        "TEMPORAL_TASK_QUEUE": "care-q",
        "DATABASE_URL": "postgresql://u@h/db",
        "CLIENT_CARE_POLICY": "/etc/care/policy.toml",
        "CLIENT_CARE_KEYS": "k1:AAAA",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    assert (s.temporal_address, s.temporal_namespace, s.temporal_task_queue) == (
        "temporal.example:7233",
        "care",
        "care-q",
    )
    assert s.database_url == "postgresql://u@h/db"
    assert s.client_care_policy == Path("/etc/care/policy.toml")
    assert s.client_care_keys == "k1:AAAA"


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert (s.temporal_address, s.temporal_namespace, s.temporal_task_queue) == (
        "localhost:7233",
        "default",
        "client-care",
    )
    assert s.database_url is None
