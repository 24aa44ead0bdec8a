"""One way to build the data converter and connect, shared by worker, starter, auditor and tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from temporalio.client import Client, TLSConfig
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from infra.codec import EncryptionCodec, PlaintextAlarm
from infra.keys import KeyRing, load_keyring
from infra.settings import Settings, get_settings
from infra.tracing import client_interceptors


def data_converter(
    keyring: KeyRing, alarm: PlaintextAlarm | None = None, *, require_place: bool = False
) -> DataConverter:
    """Pydantic payloads, encrypted and bound to their workflow; failure messages and stack
    traces are encrypted too. `require_place`: refuse payloads bound to no workflow."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring, alarm, require_place=require_place),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


class TLSSettingsError(ValueError):
    pass


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS for the Temporal connection, from TEMPORAL_TLS* settings (docs/security.md).

    Any TLS setting, or an API key, turns TLS on: an API key must never travel in clear.
    Files are read here so a wrong path fails at start-up naming the setting, not at first RPC.
    """
    s = settings
    cert, key = s.temporal_tls_client_cert, s.temporal_tls_client_key
    wanted = (
        s.temporal_tls
        or s.temporal_api_key
        or any(v is not None for v in (cert, key, s.temporal_tls_server_ca))
        or s.temporal_tls_server_name
    )
    if not wanted:
        return False
    if (cert is None) != (key is None):
        raise TLSSettingsError(
            "mTLS needs both TEMPORAL_TLS_CLIENT_CERT and TEMPORAL_TLS_CLIENT_KEY, or neither"
        )

    def read(path: Path | None, setting: str) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as err:
            raise TLSSettingsError(f"{setting}: cannot read {path}: {err.strerror}") from None

    return TLSConfig(
        server_root_ca_cert=read(s.temporal_tls_server_ca, "TEMPORAL_TLS_SERVER_CA"),
        client_cert=read(cert, "TEMPORAL_TLS_CLIENT_CERT"),
        client_private_key=read(key, "TEMPORAL_TLS_CLIENT_KEY"),
        domain=s.temporal_tls_server_name,
    )


async def connect(
    settings: Settings | None = None,
    keyring: KeyRing | None = None,
    alarm: PlaintextAlarm | None = None,
) -> Client:
    """`alarm` is the worker's: it counts refused plaintext payloads on the worker's metrics."""
    settings = settings or get_settings()
    keyring = keyring or load_keyring(settings)
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(
            keyring, alarm, require_place=settings.client_care_require_payload_place
        ),
        tls=tls_config(settings),
        api_key=settings.temporal_api_key,
        # inside `infra.tracing.tracing`: the SDK's tracing interceptor, inherited by workers
        interceptors=client_interceptors(),
    )


def search_attribute_flags(keys: Iterable[SearchAttributeKey[Any]]) -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`. The keys are
    passed in (`workflows.search_attributes.ALL`): the workflows define them, infra only
    registers them."""
    flags: list[str] = []
    for key in keys:
        flags += ["--search-attribute", f"{key.name}={_type_name(key)}"]
    return flags


def _type_name(key: object) -> str:
    indexed = key.indexed_value_type  # type: ignore[attr-defined]
    return {1: "Text", 2: "Keyword", 3: "Int", 4: "Double", 5: "Bool", 6: "Datetime"}[int(indexed)]


async def register_search_attributes(
    client: Client, keys: Iterable[SearchAttributeKey[Any]]
) -> None:
    """For servers started without the flags (the time-skipping test server, a real cluster)."""
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:  # the test server cannot list them
            raise
        existing = set()
    wanted = {key.name: key.indexed_value_type for key in keys if key.name not in existing}
    if wanted:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes=wanted,  # type: ignore[arg-type]
            )
        )
