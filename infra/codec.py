"""Payload codec: everything Temporal stores for us is ciphertext (AES-256-GCM or SM4-GCM).

An encrypted payload is `{"encoding": "binary/encrypted", "encryption-key-id": kid}` with data
`nonce(12) || ciphertext || tag(16)`; the plaintext is the whole original Payload (its metadata
included), and the key id is authenticated data, so neither can be swapped unnoticed. Under the
SM4-GCM suite the metadata also says `"encryption-cipher": "sm4-gcm"`, authenticated with the key
id; a payload without it is AES-256-GCM, as every payload written before the suites were. The
ring's suite (`CLIENT_CARE_CIPHER_SUITE`) encrypts; both decrypt, so a history written partly
under each reads whole.

A payload encrypted by a codec the SDK bound to a workflow (`with_context`: every workflow,
activity and client call is) is bound to its place too: the metadata carries
`"encryption-context": <namespace> NUL <workflow id>`, and the authenticated data is then
`kid NUL suite NUL "place/v1" NUL namespace NUL workflow id`, the suite named even for AES. A
codec bound to a workflow refuses (`PayloadPlaceError`) a payload whose authenticated place is
another namespace or workflow: a payload copied from one history into another workflow's start,
signal or update never reaches its code. Stripping or editing the context fails authentication.
The one place the SDK binds a payload to an id the workflow never has is a Schedule: the action's
input and memo are encoded for the action's id, and the server starts each run as
`<action id>-<nominal time, RFC 3339, UTC, seconds>`; the run's first task also carries the
previous run's result (`last_completion_result`), bound to that run. So a workflow whose id has
that shape also accepts its action id's payloads and those of its schedule's other runs, nothing
else. A payload without a context (written before payloads were bound, or by the codec
server's `/encode`, which knows no workflow) still decrypts everywhere unless the codec is built
with `require_place` (`CLIENT_CARE_REQUIRE_PAYLOAD_PLACE`, docs/security.md). An unbound codec
(the codec server, the auditor's rebuild) decrypts any of our payloads under its own
authenticated place, which `place_of` reads.

Decoding is strict: a payload that is not ours (plaintext written by a client without this codec)
is refused rather than trusted, and a missing or wrong key is a `KeyRingError`, never a silent
pass-through. Random 96-bit nonces are safe for well over 2**32 payloads per key; rotate the
primary key long before that.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.common import MetricCounter, MetricMeter
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from infra.keys import PAYLOAD_PURPOSE, KeyRing, KeyRingError, PurposeRing
from projections.crypto import AEAD, CipherSuite, aead

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CIPHER = "encryption-cipher"
CONTEXT = "encryption-context"
_PLACE_AAD = b"place/v1"
# `<action id>-<nominal time>` as the server names a scheduled run (seconds, always UTC)
_SCHEDULED_RUN = re.compile(r"-(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)\Z")
_NONCE = 12
_TAG = 16


class PlaintextPayloadError(KeyRingError):
    """A payload that should have been encrypted was not."""


class PayloadPlaceError(KeyRingError):
    """An authentic payload bound to another namespace or workflow than the one decoding it."""


@dataclass(frozen=True)
class PayloadPlace:
    """Where a payload belongs: the namespace and the workflow id its codec was bound to.
    Identifiers only (workflow ids never hold personal data: docs/security.md)."""

    namespace: str
    workflow_id: str

    def encode(self) -> bytes:
        return self.namespace.encode() + b"\0" + self.workflow_id.encode()

    @classmethod
    def decode(cls, raw: bytes) -> PayloadPlace:
        namespace, sep, workflow_id = raw.partition(b"\0")
        try:
            if not sep or not namespace or not workflow_id:
                raise ValueError
            return cls(namespace.decode(), workflow_id.decode())
        except ValueError:
            raise KeyRingError("payload with a malformed encryption context") from None

    def admits(self, other: PayloadPlace) -> bool:
        """Whether a codec bound here may open a payload bound to `other`."""
        if other.namespace != self.namespace:
            return False
        if other.workflow_id == self.workflow_id:
            return True
        run = _SCHEDULED_RUN.search(self.workflow_id)
        if run is None:
            return False
        action = self.workflow_id[: run.start()]
        if other.workflow_id == action:
            return True  # the schedule action's input and memo
        # another run's result or failure, handed to the next by the schedule: any run of the
        # action, not only earlier ones, so an order the server may hand them in never wedges
        # a run (a backfill of an earlier time runs after later ones)
        sibling = _SCHEDULED_RUN.search(other.workflow_id)
        return sibling is not None and other.workflow_id[: sibling.start()] == action


class PlaintextAlarm:
    """What a refused plaintext payload sets off: a warning naming the workflow and, given the
    process's metric meter (the worker's), a counter labelled with the workflow id. A payload
    bound to another place (`moved`) sets off the same, on a counter of its own."""

    def __init__(self, meter: MetricMeter | None = None) -> None:
        self._counter: MetricCounter | None = (
            meter.create_counter(
                "client_care_plaintext_payloads",
                "payloads refused for arriving unencrypted, by workflow id: each one wedges its "
                "workflow until `auditor.py repair-plaintext` resets it",
            )
            if meter is not None
            else None
        )
        self._moved: MetricCounter | None = (
            meter.create_counter(
                "client_care_moved_payloads",
                "payloads refused for being bound to another workflow or namespace, by the "
                "workflow id that refused them: a moved signal or update wedges the workflow "
                "until `auditor.py repair-plaintext` resets it",
            )
            if meter is not None
            else None
        )

    def moved(self, workflow_id: str | None, namespace: str | None) -> None:
        from infra.logging import get_logger  # infra.logging imports the redaction, not us

        get_logger("infra.codec").warning(
            "payload bound to another workflow or namespace refused: in a worker the workflow "
            "is stuck until repaired with `auditor.py repair-plaintext` (a moved start input: "
            "terminate it)",
            workflow_id=workflow_id or "unknown",
            namespace=namespace or "unknown",
        )
        if self._moved is not None:
            self._moved.add(1, {"workflow_id": workflow_id or "unknown"})

    def __call__(self, workflow_id: str | None, encoding: str) -> None:
        from infra.logging import get_logger  # infra.logging imports the redaction, not us

        get_logger("infra.codec").warning(
            "plaintext payload refused: the workflow is stuck until repaired with "
            "`auditor.py repair-plaintext`",
            workflow_id=workflow_id or "unknown",
            encoding=encoding,
        )
        if self._counter is not None:
            self._counter.add(1, {"workflow_id": workflow_id or "unknown"})


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(
        self,
        keyring: KeyRing | PurposeRing,
        alarm: PlaintextAlarm | None = None,
        *,
        require_place: bool = False,
    ) -> None:
        self._ring = keyring
        self._suite = keyring.suite
        # the ring's suite at once (a missing subkey fails here, at start); the other when a
        # payload under it arrives
        self._ciphers: dict[tuple[str, CipherSuite], AEAD] = {
            (kid, self._suite): aead(self._suite, keyring.subkey(kid, PAYLOAD_PURPOSE, self._suite))
            for kid in keyring.keys
        }
        self._alarm = alarm or PlaintextAlarm()
        self._require_place = require_place
        self._workflow_id: str | None = None
        self._namespace: str | None = None
        self._place: PayloadPlace | None = None

    @property
    def keyring(self) -> KeyRing | PurposeRing:
        return self._ring

    @property
    def place(self) -> PayloadPlace | None:
        """The place this codec binds payloads to, if the SDK gave it one."""
        return self._place

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        # The SDK asks for a copy per workflow, activity or client call; the ciphers are shared.
        # An activity started outside a workflow (none here) has a namespace but no workflow id:
        # its payloads stay unbound, and a bound one it receives must name its namespace.
        bound = copy.copy(self)
        bound._workflow_id = bound._namespace = bound._place = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            bound._namespace = context.namespace
            bound._workflow_id = context.workflow_id
            if context.workflow_id:
                bound._place = PayloadPlace(context.namespace, context.workflow_id)
        return bound

    def bound_to(self, place: PayloadPlace) -> EncryptionCodec:
        """This codec bound to `place`, as the SDK would bind it for that workflow."""
        return self.with_context(WorkflowSerializationContext(place.namespace, place.workflow_id))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    @staticmethod
    def is_encrypted(payload: Payload) -> bool:
        return payload.metadata.get("encoding") == ENCODING

    @staticmethod
    def key_id(payload: Payload) -> str:
        return payload.metadata.get(KEY_ID, b"").decode("ascii", "replace")

    @staticmethod
    def suite_of(payload: Payload) -> CipherSuite:
        name = payload.metadata.get(CIPHER)
        if name is None:
            return CipherSuite.AES_256_GCM
        try:
            return CipherSuite(name.decode("ascii", "replace"))
        except ValueError:
            raise KeyRingError(
                f"payload under an unknown cipher {name.decode('ascii', 'replace')[:32]!r}"
            ) from None

    def _cipher(self, kid: str, suite: CipherSuite) -> AEAD:
        cipher = self._ciphers.get((kid, suite))
        if cipher is None:
            # raises the explanatory KeyRingError for a key id (or SM subkey) the ring lacks
            cipher = aead(suite, self._ring.subkey(kid, PAYLOAD_PURPOSE, suite))
            self._ciphers[(kid, suite)] = cipher
        return cipher

    @staticmethod
    def place_of(payload: Payload) -> PayloadPlace | None:
        """The place an encrypted payload says it is bound to (authentic only once decrypted)."""
        raw = payload.metadata.get(CONTEXT)
        return None if raw is None else PayloadPlace.decode(raw)

    @staticmethod
    def _aad(kid: str, suite: CipherSuite, place: bytes | None = None) -> bytes:
        if place is not None:
            return b"\0".join((kid.encode(), suite.encode(), _PLACE_AAD, place))
        # AES-256-GCM's is the key id alone, as it always was
        return kid.encode() + (b"" if suite is CipherSuite.AES_256_GCM else b"\0" + suite.encode())

    def encrypt(self, payload: Payload) -> Payload:
        kid, suite = self._ring.primary, self._suite
        nonce = os.urandom(_NONCE)
        plain = payload.SerializeToString()
        place = self._place.encode() if self._place is not None else None
        sealed = self._cipher(kid, suite).encrypt(nonce, plain, self._aad(kid, suite, place))
        metadata = {"encoding": ENCODING, KEY_ID: kid.encode()}
        if suite is not CipherSuite.AES_256_GCM:
            metadata[CIPHER] = suite.encode()
        if place is not None:
            metadata[CONTEXT] = place
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if not self.is_encrypted(payload):
            encoding = payload.metadata.get("encoding", b"").decode("ascii", "replace")
            self._alarm(self._workflow_id, encoding)
            raise PlaintextPayloadError(
                f"refusing an unencrypted payload (encoding {encoding!r}): every payload in this "
                "namespace must come through the client-care data converter or codec server"
            )
        kid, suite = self.key_id(payload), self.suite_of(payload)
        place = self.place_of(payload)
        cipher = self._cipher(kid, suite)
        if len(payload.data) < _NONCE + _TAG:
            raise KeyRingError(f"encrypted payload under key {kid!r} is truncated")
        try:
            plain = cipher.decrypt(
                payload.data[:_NONCE],
                payload.data[_NONCE:],
                self._aad(kid, suite, payload.metadata.get(CONTEXT)),
            )
            decrypted = Payload.FromString(plain)
        except (InvalidTag, DecodeError):
            raise KeyRingError(
                f"payload under key {kid!r} failed authentication: wrong key or altered data"
            ) from None
        self._check_place(place)
        return decrypted

    def _check_place(self, place: PayloadPlace | None) -> None:
        """Refuses an authentic payload that belongs elsewhere (ids only in the message)."""
        if place is None:
            if self._require_place and self._namespace is not None:
                self._refused("carries no encryption context (written before payloads were bound)")
            return
        if self._place is not None:
            if not self._place.admits(place):
                self._refused(
                    f"is bound to workflow {place.workflow_id!r} in namespace "
                    f"{place.namespace!r}, not to {self._place.workflow_id!r} in "
                    f"{self._place.namespace!r}"
                )
        elif self._namespace is not None and place.namespace != self._namespace:
            self._refused(f"is bound to namespace {place.namespace!r}, not {self._namespace!r}")

    def _refused(self, why: str) -> None:
        self._alarm.moved(self._workflow_id, self._namespace)
        raise PayloadPlaceError(f"refusing a payload that {why}: ciphertext moved between places")
