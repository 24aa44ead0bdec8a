"""A served client: what its workflow remembers, the rules that change it, and `plan`, the one
answer to "when does this client next wake, and why".

Each rule is a plain function of (state, now, policy) that changes the state and returns what
changed; `workflows.client_service` only sequences them with timers and tells the outside
(projections, notifications, search attributes) what they returned.

Callbacks and plan reviews are owed on a fixed grid from onboarding (the calendar's slots,
jittered per client): recording an outcome closes that slot's task but does not move the grid,
so a late or missed callback neither delays nor swallows the next one. A tier change re-plans
callbacks from the last callback done, so a client called two weeks before an upgrade is not
called again at once; the grid then stays fixed from that anchor. Each slot is its own
`service_tasks` row, which is what supervisors count (due vs done, overdue). Risk
re-assessment is different: it runs from the last assessment, and one stays open until done.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from domain import sealed
from domain.calendar import (
    CalendarState,
    HolidayTable,
    ServiceEvent,
    ServiceEventKind,
    greeting_years,
    next_event,
    next_events,
)
from domain.client import BasicInfo, ClientFile, completeness
from domain.consent import Consents, Purpose
from domain.deadlines import due_after
from domain.duties import slot_key
from domain.enums import ClientKind, RiskProfile, ServiceStatus, Tier
from domain.periods import IsoPeriod
from domain.policy import Policy
from domain.questionnaire import RiskAssessment

TaskKind = ServiceEventKind

ADVISOR_DUTIES = frozenset(
    {ServiceEventKind.CALLBACK, ServiceEventKind.PLAN_REVIEW, ServiceEventKind.RISK_ASSESSMENT}
)
GREETINGS = frozenset({ServiceEventKind.BIRTHDAY_GREETING, ServiceEventKind.HOLIDAY_GREETING})
# Who hears of an overdue callback: the internal supervision team (DOMAIN §7).
SUPERVISION = "supervision"


class OpenTask(BaseModel):
    """An advisor duty issued and not yet done. Its row in `service_tasks` has the same id."""

    task_id: str
    kind: ServiceEventKind
    due_at: datetime
    escalated: bool = False


# How long, and how many, answered commands a client remembers (see `Answered`).
ANSWERS_KEPT_FOR = timedelta(days=7)
ANSWERS_KEPT = 32


class Answered(BaseModel):
    """A command applied, by its update id (`--request-id` makes it `<verb>:<key>`), with the
    answer it got. The server deduplicates update ids within one run only, so a retry landing
    after continue-as-new would be applied again; the state carries the recent ones across, and
    a repeat is answered from here. Kept: the last `ANSWERS_KEPT` of the last
    `ANSWERS_KEPT_FOR` (a caller retries within minutes, not weeks)."""

    update_id: str
    at: datetime
    answer: dict[str, Any]


class Restriction(BaseModel):
    """A PIPL deletion request met by a retention hold (`policy.privacy.holds`): from the
    request on, the client is restricted (no processing, no display, no messages); the record
    is shredded (`erase`) when the hold ends. `until` is None while the relationship still runs:
    the hold runs until `keep_for` after it ends, so `offboard` sets it."""

    requested_at: datetime
    requested_by: str
    reason: str
    hold: str = Field(description="the policy's name of the hold the request met")
    keep_for: IsoPeriod = Field(description="that hold's period, as it was at the request")
    until: datetime | None = None


class ServiceState(BaseModel):
    """Carried across continue-as-new: the client file and where the service stands."""

    file: ClientFile
    tier: Tier
    status: ServiceStatus = ServiceStatus.ACTIVE
    onboarded_at: datetime
    risk_assessed_at: datetime | None = None
    done_keys: list[str] = []
    planned_wake: datetime | None = Field(
        default=None, description="the instant the current timer was set for"
    )
    open_tasks: list[OpenTask] = []
    seq: int = Field(description="the workflow's event counter; see `first_seq`")
    last_review_id: str | None = None
    last_callback_done_at: datetime | None = None
    erased_at: datetime | None = Field(
        default=None, description="PIPL deletion: the file holds no personal data since then"
    )
    callback_anchor: datetime | None = Field(
        default=None, description="set at a tier change: the callback grid runs from it"
    )
    holidays: HolidayTable | None = Field(
        default=None, description="greeted holidays' dates, loaded by an activity"
    )
    answered: list[Answered] = []
    ended_at: datetime | None = Field(
        default=None, description="the relationship ended (offboard): retention holds run from it"
    )
    restriction: Restriction | None = None
    status_reason: str | None = Field(
        default=None,
        description="why the service was paused or ended (pause, offboard): sealed under the "
        "client's key by the command; cleared on resume",
    )
    held_only: bool = Field(
        default=False,
        description="a run started for a deletion request after the service had ended: it holds "
        "no file, and its `clients` row is left as stored until the erasure empties it",
    )

    @property
    def client_id(self) -> str:
        return self.file.client_id

    def risk(self) -> RiskAssessment | None:
        return self.file.risk_assessment()

    def risk_profile(self) -> RiskProfile:
        return self.file.risk_profile()

    def missing_fields(self) -> list[str]:
        return completeness(self.file).missing

    @property
    def restricted(self) -> bool:
        """A deletion request waits for its hold: nothing is processed, shown or sent."""
        return self.restriction is not None and self.erased_at is None

    def calendar(self) -> CalendarState:
        return CalendarState(
            client_id=self.client_id,
            tier=self.tier,
            onboarded_at=self.onboarded_at,
            last_callback_at=self.callback_anchor,
            risk_assessed_at=self.risk_assessed_at,
            birth_date=self.file.basic.birthday(),
            consents=self.file.consents,
            paused=self.status is not ServiceStatus.ACTIVE,
            done_keys=frozenset(self.done_keys),
        )

    def needs_holidays(self, now: datetime, policy: Policy) -> tuple[int, int] | None:
        """The years a new holiday table must cover before the calendar can plan greetings,
        or None when the table on hand will do (or no greeting can be planned at all)."""
        if self.status is not ServiceStatus.ACTIVE or not self.file.consents.channels_for(
            Purpose.CARE
        ):
            return None
        first, last = greeting_years(now, policy)
        t = self.holidays
        current = t is not None and (t.country, list(t.names)) == (
            policy.holidays.country,
            policy.holidays.greet,
        )
        if t is not None and current and t.first_year <= first and last <= t.last_year:
            return None
        return first, last

    def answer_to(self, update_id: str) -> dict[str, Any] | None:
        """The answer a command with this update id got, if it was applied lately."""
        return next((a.answer for a in self.answered if a.update_id == update_id), None)

    def remember(self, update_id: str, now: datetime, answer: BaseModel) -> None:
        kept = [a for a in self.answered if now - a.at < ANSWERS_KEPT_FOR]
        entry = Answered(update_id=update_id, at=now, answer=answer.model_dump(mode="json"))
        self.answered = [*kept, entry][-ANSWERS_KEPT:]

    def open_task(self, task_id: str | None, kind: ServiceEventKind) -> OpenTask | None:
        """The named open task, or else the latest open duty of `kind` (the current one)."""
        matching = [t for t in self.open_tasks if t.kind is kind]
        if task_id is not None:
            return next((t for t in matching if t.task_id == task_id), None)
        return matching[-1] if matching else None


def first_seq(onboarded_at: datetime) -> int:
    """Where a client's event counter starts: the onboarding instant in milliseconds, times a
    thousand. A returning client (offboarded, onboarded again) gets a new workflow chain whose
    rows must still win over the old chain's in `upsert_newer`, and whose notification ids
    (`<workflow_id>:<seq>:<purpose>`) must not collide with the old ones, or the outbox would
    take them for retries and send nothing."""
    return int(onboarded_at.timestamp() * 1000) * 1000


def task_id_for(workflow_id: str, event: ServiceEvent) -> str:
    # The calendar key names the kind and the planned slot (or the year, for a birthday),
    # never a personal date, and it is unique per duty: so is the task id.
    return f"{workflow_id}:{event.key}"


def issue(state: ServiceState, workflow_id: str, event: ServiceEvent) -> OpenTask | None:
    """Marks `event` served; an advisor duty becomes an open task (returned)."""
    state.done_keys.append(event.key)
    if event.kind not in ADVISOR_DUTIES:
        return None
    # An escalated task of the same kind is superseded by the new one: its row stays overdue
    # for the supervisors, and the state stays bounded however long an advisor is absent.
    state.open_tasks = [t for t in state.open_tasks if not (t.kind is event.kind and t.escalated)]
    task = OpenTask(task_id=task_id_for(workflow_id, event), kind=event.kind, due_at=event.due_at)
    state.open_tasks.append(task)
    return task


def owe(
    state: ServiceState, workflow_id: str, kind: ServiceEventKind, due_at: datetime
) -> OpenTask:
    """A duty the client was already owed when the service took them on (brought over from the
    firm's earlier system): open from the start with the day it fell due there, so one long past
    is overdue at once, as it is, rather than planned afresh from now as the grid would. Its id
    is not a grid slot's, which start at onboarding."""
    task_id = f"{workflow_id}:owed-{slot_key(kind, due_at)}"
    task = state.open_task(task_id, kind)
    if task is None:
        task = OpenTask(task_id=task_id, kind=kind, due_at=due_at)
        state.open_tasks.append(task)
    return task


class Served(BaseModel):
    """What serving the due events did: greetings to send (already marked served, so a retry
    never sends twice), advisor duties issued, overdue callbacks escalated."""

    greetings: list[ServiceEvent] = []
    issued: list[OpenTask] = []
    escalated: list[OpenTask] = []


def serve(state: ServiceState, now: datetime, policy: Policy) -> Served:
    """Everything due now (see `due_now`, which needs the holiday table `needs_holidays` asks
    for): greetings, advisor duties, and callbacks whose grace ran out."""
    served = Served()
    for event in due_now(state, now, policy):
        task = issue(state, workflow_id_for(state.client_id), event)
        if event.kind in GREETINGS:
            served.greetings.append(event)
        elif task is not None:
            served.issued.append(task)
    for task in to_escalate(state, now, policy):
        task.escalated = True
        served.escalated.append(task)
    return served


def assessed(state: ServiceState, now: datetime) -> OpenTask | None:
    """New answers are a risk assessment: its validity runs from now; its open task (returned)
    is done."""
    state.risk_assessed_at = now
    task = state.open_task(None, ServiceEventKind.RISK_ASSESSMENT)
    if task is not None:
        complete(state, task, now)
    return task


def cancel_open(state: ServiceState) -> list[OpenTask]:
    """The client leaves: whatever was still open (returned) will not be done."""
    cancelled, state.open_tasks = state.open_tasks, []
    return cancelled


def workflow_id_for(client_id: str) -> str:
    return f"client-{client_id}"


def complete(state: ServiceState, task: OpenTask, now: datetime) -> None:
    """Closes a duty. The grid of later slots stays where it is (see the module's notes)."""
    state.open_tasks = [t for t in state.open_tasks if t.task_id != task.task_id]
    if task.kind is ServiceEventKind.CALLBACK:
        state.last_callback_done_at = now


ERASED = "(erased)"


def erase(state: ServiceState, now: datetime) -> None:
    """PIPL deletion on the client's request: the file keeps only what identifies no one (ids,
    kind, advisor, figures), contact is refused from now on, and the service ends."""
    state.file = placeholder_file(state.file, ERASED)
    state.erased_at = now
    state.status = ServiceStatus.CLOSED
    state.answered = []  # earlier answers show the file as it was
    if state.status_reason is not None:  # staff's words about the person go with the file
        state.status_reason = sealed.ERASED  # as its token reads once the key is destroyed


RESTRICTED = "(restricted)"


def placeholder_file(f: ClientFile, name: str) -> ClientFile:
    """What may still be shown of a client erased or restricted: what identifies no one (ids,
    kind, advisor, figures); contact refused."""
    return ClientFile(
        client_id=f.client_id,
        kind=f.kind,
        basic=BasicInfo(name=name),
        metrics=f.metrics,
        advisor_id=f.advisor_id,
        consents=Consents(do_not_contact=True),
    )


def held_only(
    client_id: str, kind: ClientKind, tier: Tier, advisor_id: str | None, ended_at: datetime
) -> ServiceState:
    """The state of a run started only to keep a deletion request's hold after the client's
    service has ended: no file, the relationship's end, a counter after the old chain's."""
    file = ClientFile(
        client_id=client_id,
        kind=kind,
        basic=BasicInfo(name=RESTRICTED),
        advisor_id=advisor_id,
        consents=Consents(do_not_contact=True),
    )
    return ServiceState(
        file=file,
        tier=tier,
        status=ServiceStatus.CLOSED,
        onboarded_at=ended_at,
        seq=first_seq(ended_at),
        ended_at=ended_at,
        held_only=True,
    )


def request_erasure(
    state: ServiceState, now: datetime, policy: Policy, requested_by: str, reason: str
) -> Restriction | None:
    """A deletion request under the policy's holds: None when none runs (or it has run out), to
    be shredded at once (`erase`); otherwise the state is restricted from now (returned) and
    the service ends. The longest hold keeps the whole record (HeldRecords)."""
    hold = policy.privacy.longest()
    if hold is None:
        return None
    until = (
        None if state.ended_at is None else due_after(state.ended_at, hold.keep_for, policy.zone())
    )
    if until is not None and until <= now:
        return None
    state.restriction = Restriction(
        requested_at=now,
        requested_by=requested_by,
        reason=reason,
        hold=hold.name,
        keep_for=hold.keep_for,
        until=until,
    )
    state.status = ServiceStatus.CLOSED
    state.answered = []  # earlier answers show the file
    return state.restriction


def relationship_ended(state: ServiceState, now: datetime, policy: Policy) -> None:
    """`offboard`: the business relationship ends now, and so a hold waiting for it starts."""
    state.ended_at = now
    r = state.restriction
    if r is not None and r.until is None:
        r.until = due_after(now, r.keep_for, policy.zone())


def change_tier(state: ServiceState, tier: Tier) -> None:
    """The new cadence runs from the last callback done (from onboarding if none was)."""
    state.tier = tier
    state.callback_anchor = state.last_callback_done_at


def serving_instant(state: ServiceState, now: datetime) -> datetime:
    """The instant to ask the calendar about: the one the timer was set for, if it has passed.

    A timer fires a few milliseconds after its slot, and the calendar treats a slot already
    passed as missed (collapsed into the first missed one, which is served): asking at the
    planned instant serves exactly the slot that woke us, however late the wake-up.
    """
    if state.planned_wake is not None and state.planned_wake < now:
        return state.planned_wake
    return now


def escalation_at(task: OpenTask, policy: Policy) -> datetime:
    return policy.service.callback_grace.after(task.due_at)


def escalating(state: ServiceState) -> list[OpenTask]:
    """Open callbacks still inside their grace. A paused service's advisor cannot reach the
    client, so its grace does not run out (an overdue one escalates on resume)."""
    if state.status is not ServiceStatus.ACTIVE:
        return []
    return [t for t in state.open_tasks if t.kind is ServiceEventKind.CALLBACK and not t.escalated]


def to_escalate(state: ServiceState, now: datetime, policy: Policy) -> list[OpenTask]:
    return [t for t in escalating(state) if escalation_at(t, policy) <= now]


def due_now(state: ServiceState, now: datetime, policy: Policy) -> list[ServiceEvent]:
    """What the calendar has due at the serving instant (see `serving_instant`)."""
    at = serving_instant(state, now)
    return next_events(state.calendar(), at, policy, timedelta(0), holiday_table=state.holidays)


def live_done_keys(state: ServiceState, now: datetime, policy: Policy) -> list[str]:
    """The served keys that could be planned again, to carry across continue-as-new.

    A served event can only come back as one due at `now` (a collapsed missed slot, a greeting
    later the same day), so those are the keys worth keeping. (`domain.calendar.
    prune_done_keys` means the same but walks its endless callback stream to the year 9999.)
    """
    everything = state.calendar().model_copy(update={"done_keys": frozenset()})
    due_now = {
        e.key
        for e in next_events(everything, now, policy, timedelta(0), holiday_table=state.holidays)
    }
    return sorted(due_now.intersection(state.done_keys))


class Plan(BaseModel):
    """When to wake next and why (`wake_for`: the event kind, or "escalation"), and what the
    client's next advisor duty is (for search attributes and the `clients` row)."""

    wake_at: datetime | None
    wake_for: str | None
    service_due: datetime | None
    service_kind: str | None


def plan(state: ServiceState, now: datetime, policy: Policy) -> Plan:
    """When the client next wakes (`wake_at`) and why (`wake_for`), and its next advisor duty.

    Greetings are planned only once the state's holiday table covers them: until the run loop
    has loaded it (`needs_holidays`, an activity), a plan made in a command leaves them out,
    rather than reading the `holidays` package from workflow code. The loop loads the table
    before it plans its own wake-up, so the timer always counts the greetings.
    """
    calendar = state.calendar()
    if state.needs_holidays(now, policy) is not None:
        calendar = calendar.model_copy(update={"consents": Consents()})
    upcoming = next_event(calendar, now, policy, holiday_table=state.holidays)
    duty = upcoming
    if upcoming is not None and upcoming.kind not in ADVISOR_DUTIES:
        # Without consent to care messages the calendar plans no greetings: what remains first
        # is the next advisor duty.
        duty = next_event(calendar.model_copy(update={"consents": Consents()}), now, policy)
    escalations = [(escalation_at(t, policy), "escalation") for t in escalating(state)]
    candidates = escalations + ([(upcoming.due_at, upcoming.kind.value)] if upcoming else [])
    wake_at, wake_for = min(candidates, default=(None, None))
    # NextServiceDue is advisor work only: an open duty (overdue shows as a past date) or the
    # next planned one. Greetings stay out, since a birthday's date is personal data.
    duties = [(t.due_at, t.kind.value) for t in state.open_tasks]
    if duty is not None:
        duties.append((duty.due_at, duty.kind.value))
    service_due, service_kind = min(duties, default=(None, None))
    return Plan(
        wake_at=wake_at, wake_for=wake_for, service_due=service_due, service_kind=service_kind
    )


def revise_file(
    file: ClientFile, basic: dict[str, Any] | None, changes: dict[str, Any]
) -> ClientFile:
    """The file with `changes` applied; validates again, so a bad value raises ValueError."""
    if basic:
        changes = {**changes, "basic": {**file.basic.model_dump(), **basic}}
    return file.revised(**changes) if changes else file
