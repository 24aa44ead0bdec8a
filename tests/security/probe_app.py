"""Models and activities of the security probe workflow (imported passed-through)."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError


class Person(BaseModel):
    name: str
    phone: str
    email: str
    id_number: str

    def secrets(self) -> list[str]:
        return [self.name, self.phone, self.email, self.id_number]


class ProbeInput(BaseModel):
    client_id: str
    person: Person
    fail: bool = False


class Note(BaseModel):
    text: str


class Confirm(BaseModel):
    by: str
    text: str


class Ack(BaseModel):
    text: str


class Greeting(BaseModel):
    text: str


class ProbeResult(BaseModel):
    greeting: str
    notes: list[str]
    confirmation: str
    rejection: str


@activity.defn(name="probe_greet")
async def probe_greet(person: Person) -> Greeting:
    # Logged the way the conventions allow: under personal keys, or as shapes the masker knows.
    activity.logger.info(
        "greeting client", extra={"client_name": person.name, "phone": person.phone}
    )
    activity.logger.info(f"will call {person.phone} and mail {person.email}")
    return Greeting(text=f"Dear {person.name}, we will call {person.phone}")


@activity.defn(name="probe_reject")
async def probe_reject(person: Person) -> None:
    # An error that echoes contact details, as validation errors do; its details carry the lot.
    raise ApplicationError(
        f"cannot reach {person.phone} / {person.email} for ID {person.id_number}",
        person.model_dump(),
        type="Unreachable",
        non_retryable=True,
    )
