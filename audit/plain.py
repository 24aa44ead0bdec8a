"""History protobufs as plain JSON values, payloads shown as the data they carry.

Payloads must already be decrypted (`audit.payloads.decode_events`); here they are only
deserialised. Failures show their real message, which the encrypting failure converter moves into
`encoded_attributes`.
"""

from __future__ import annotations

import base64
from datetime import UTC
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.converter import PayloadConverter

_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"


class Plain:
    def __init__(self, payload_converter: PayloadConverter) -> None:
        self._converter = payload_converter

    def payload(self, payload: Payload) -> Any:
        try:
            value = self._converter.from_payload(payload)
        except Exception:
            encoding = payload.metadata.get("encoding", b"?").decode(errors="replace")
            return f"<undecodable {encoding} payload>"
        return base64.b64encode(value).decode() if isinstance(value, bytes) else value

    def failure(self, failure: Failure) -> dict[str, Any]:
        # its fields, not self.message(failure), which would come straight back here
        out: dict[str, Any] = {fd.name: self._field(fd, v) for fd, v in failure.ListFields()}
        out.pop("encoded_attributes", None)
        if failure.HasField("encoded_attributes"):
            attrs = self.payload(failure.encoded_attributes)
            if isinstance(attrs, dict):
                out.update({k: v for k, v in attrs.items() if v})
        return out

    def message(self, msg: Message) -> Any:
        name = msg.DESCRIPTOR.full_name
        if name == Payload.DESCRIPTOR.full_name:
            return self.payload(msg)  # type: ignore[arg-type]
        if name == Payloads.DESCRIPTOR.full_name:
            return [self.payload(p) for p in msg.payloads]  # type: ignore[attr-defined]
        if name == Failure.DESCRIPTOR.full_name:
            return self.failure(msg)  # type: ignore[arg-type]
        if name == _TIMESTAMP:
            return msg.ToDatetime(tzinfo=UTC).isoformat()  # type: ignore[attr-defined]
        if name == _DURATION:
            return msg.ToJsonString()  # type: ignore[attr-defined]
        return {fd.name: self._field(fd, value) for fd, value in msg.ListFields()}

    def _field(self, fd: FieldDescriptor, value: Any) -> Any:
        entry = fd.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_fd = entry.fields_by_name["value"]
            return {str(k): self._scalar(value_fd, v) for k, v in value.items()}
        if fd.is_repeated:
            return [self._scalar(fd, v) for v in value]
        return self._scalar(fd, value)

    def _scalar(self, fd: FieldDescriptor, value: Any) -> Any:
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            return self.message(value)
        if fd.enum_type is not None:
            enum = fd.enum_type.values_by_number.get(value)
            return enum.name if enum is not None else value
        if fd.type == FieldDescriptor.TYPE_BYTES:
            return base64.b64encode(value).decode()
        return value
