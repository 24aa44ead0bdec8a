"""Personal fields are sealed here, under the client's own data key, before they enter a workflow.

Every command that carries a client's personal data into Temporal (`client onboard`, `client
import`, `client update`, `client callback`, `client pause` and `client offboard` (their reasons),
`complaint open`, a `privacy request` correction)
validates the body first, so a bad phone or a control character is
refused with its field named before anything is sealed, and then replaces each personal field
with a token (`domain.sealed`). From there the workflow input, its updates, the state carried
through continue-as-new, the activity inputs, the read models and exports hold tokens only, and
the client's erasure destroys the one key that opens them (`projections.subject_keys`).

What stays readable, because workflow logic or supervisors need it and it identifies no one on
its own: ids, kind, gender and family status (enumerations), the birthday's month and day (the
greetings are planned from it; the year is sealed with the date), financial figures and goals,
metrics, consents, advisor, segment, language, risk answers.

Commands that show a client's file to a person open the tokens again (`reveal`), with `[erased]`
where the key is gone.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from commands.base import CommandContext, CommandError, engine_for
from domain.client import BasicInfo, ClientFile
from domain.complaint import ComplaintIntake
from domain.sealed import ERASED, is_sealed
from projections.subject_keys import DataKey, PgSubjectKeys, Sealer, SubjectErased
from workflows.client_service.models import BasicChanges
from workflows.refusals import describe

M = TypeVar("M", bound=BaseModel)

# The personal fields of `BasicInfo`, sealed one by one (what the file is about, not the shape).
SEALED_FIELDS = ("name", "phone", "email", "address", "occupation", "id_number", "birth_date")


FALLBACK_RING: Any = None
"""The ring to wrap with when the context's client has no payload codec to take it from (tests
drive workflows through a client without one): set by the test suite, never in service."""


def sealer_for(ctx: CommandContext) -> Sealer:
    """The context's own, else the subject keys in the read models' database, wrapped by the
    ring the context's Temporal client encrypts payloads with (the process's key ring)."""
    if ctx.sealer is not None:
        return ctx.sealer
    from infra.codec import EncryptionCodec
    from infra.keys import KeyRing, load_keyring
    from infra.settings import get_settings

    codec = ctx.client.data_converter.payload_codec if ctx.client is not None else None
    ring = codec.keyring if isinstance(codec, EncryptionCodec) else None
    if not isinstance(ring, KeyRing):
        ring = FALLBACK_RING if FALLBACK_RING is not None else load_keyring(get_settings())
    return Sealer(PgSubjectKeys(engine_for(ctx), ring))


def _data_key(sealer: Sealer, client_id: str, verb: str) -> DataKey:
    try:
        return sealer.keys.create(client_id)
    except SubjectErased:
        raise CommandError(
            f"client {verb}: the personal data of client {client_id} was erased (PIPL); a "
            "returning person is served under a new client id",
            "rejected",
        ) from None


def _sealed(sealer: Sealer, key: DataKey, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in SEALED_FIELDS:
        value = out.get(name)
        if value is None or is_sealed(value):
            continue
        if isinstance(value, date):
            out["birth_month_day"] = value.strftime("%m-%d")
            value = value.isoformat()
        out[name] = sealer.seal(key, name, str(value))
    return out


def seal_file(sealer: Sealer, file: ClientFile, verb: str = "onboard") -> ClientFile:
    """The validated file with its personal fields sealed (idempotent: a token stays one)."""
    key = _data_key(sealer, file.client_id, verb)
    basic = _sealed(sealer, key, file.basic.model_dump(exclude_none=True))
    return file.model_copy(update={"basic": BasicInfo.model_validate(basic)})


def seal_changes(
    sealer: Sealer, client_id: str, changes: BasicChanges, verb: str = "update"
) -> BasicChanges:
    """The changed basic fields checked against `BasicInfo`'s rules (a bad phone is refused here,
    naming the field), normalised as the file keeps them, then sealed."""
    given = changes.model_dump(exclude_unset=True)
    if not given:
        return changes
    probe = {"name": "-"} | {k: v for k, v in given.items() if v is not None}
    try:
        checked = BasicInfo.model_validate(probe)
    except ValidationError as err:
        problems = "; ".join(f"basic.{p}" for p in describe(err).split("; "))
        raise CommandError(f"{verb}: {problems}", "invalid") from None
    normalised = {k: (getattr(checked, k) if v is not None else None) for k, v in given.items()}
    if "birth_date" in normalised and normalised["birth_date"] is None:
        normalised["birth_month_day"] = None
    key = _data_key(sealer, client_id, verb)
    sealed = _sealed(sealer, key, normalised)
    return BasicChanges.model_validate(sealed)


def reveal(sealer: Sealer, answer: BaseModel) -> dict[str, Any]:
    """A workflow's answer as JSON for the person who asked, its tokens opened."""
    out: dict[str, Any] = sealer.reveal(answer.model_dump(mode="json"))
    return out


def seal_intake(sealer: Sealer, intake: ComplaintIntake) -> ComplaintIntake:
    """A validated complaint intake with its content and the complainant's name, phone and
    e-mail sealed under the client's key (made here when the client has none yet: a complaint
    may come before, or without, an onboarding). The client's key destroyed: the complaint is
    received all the same, without the person (`[erased]`, as an open complaint keeps it once
    its client is erased), since nothing may be kept of an erased client."""
    try:
        key = sealer.keys.create(intake.client_id)
    except SubjectErased:
        return intake.erased()
    person = intake.complainant
    sealed = {
        f: sealer.seal(key, f"complainant.{f}", v)
        for f in ("name", "phone", "email")
        if (v := getattr(person, f)) is not None and not is_sealed(v)
    }
    content = intake.content
    if not is_sealed(content):
        content = sealer.seal(key, "content", content)
    return intake.model_copy(
        update={"content": content, "complainant": person.model_copy(update=sealed)}
    )


CALLBACK_NOTES = ("returns", "life_situation", "new_needs")


def seal_notes(sealer: Sealer, client_id: str, outcome: M, verb: str = "callback") -> M:
    """A callback outcome with the client's own words (`CALLBACK_NOTES`) sealed; its figures
    and flags (satisfaction, recommend, whether new needs were named) stay readable."""
    given = {f: v for f in CALLBACK_NOTES if (v := getattr(outcome, f)) and not is_sealed(v)}
    if not given:
        return outcome
    key = _data_key(sealer, client_id, verb)
    return outcome.model_copy(
        update={f: sealer.seal(key, f"callback.{f}", v) for f, v in given.items()}
    )


def seal_reason(sealer: Sealer, client_id: str, cmd: M, verb: str) -> M:
    """A pause or offboard with its free-text reason sealed under the client's key
    (`<verb>.reason`): staff's words on why, which may be about the person. Once the key is
    destroyed the text is not kept (`[erased]`)."""
    reason = getattr(cmd, "reason", None)
    if not reason or is_sealed(reason):
        return cmd
    try:
        key = sealer.keys.create(client_id)
    except SubjectErased:
        return cmd.model_copy(update={"reason": ERASED})
    return cmd.model_copy(update={"reason": sealer.seal(key, f"{verb}.reason", reason)})


# The free text of a complaint's later commands, by model field: what its people write about the
# client (findings, evidence, measures, comments, reasons). Ids, dates, scores stay readable.
COMPLAINT_TEXT = ("findings", "evidence", "measures", "comment", "reason")


def seal_complaint_text(sealer: Sealer, client_id: str, cmd: M) -> M:
    """A complaint command with its free text sealed under the client's key; once the client's
    key is destroyed, the text is not kept (`[erased]`), as for a complaint opened then."""
    given = {
        f: getattr(cmd, f)
        for f in COMPLAINT_TEXT
        if f in type(cmd).model_fields and getattr(cmd, f)
    }
    if not given:
        return cmd
    try:
        key: DataKey | None = sealer.keys.create(client_id)
    except SubjectErased:
        key = None

    def sealed(name: str, value: str) -> str:
        if is_sealed(value):
            return value
        return ERASED if key is None else sealer.seal(key, f"complaint.{name}", value)

    update = {
        f: [sealed(f, v) for v in value] if isinstance(value, list) else sealed(f, value)
        for f, value in given.items()
    }
    return cmd.model_copy(update=update)
