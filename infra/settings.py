"""Settings from the environment (and an optional `.env`), named as CONTRACT.md fixes them."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CLIENT_CARE_DATA_DIR") or ROOT / ".data")
DEFAULT_POLICY = ROOT / "config" / "policy.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "client-care"
    # Complaints on a task queue of their own, served by worker slots of their own (README, "Task
    # priorities"); unset, they share TEMPORAL_TASK_QUEUE and are ordered by priority alone.
    temporal_complaint_task_queue: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9._-]{1,200}$"
    )
    worker_serves: Literal["all", "service", "complaints"] = Field(
        default="all",
        description="the queues this worker polls when complaints have a queue of their own: "
        "both, only TEMPORAL_TASK_QUEUE, or only TEMPORAL_COMPLAINT_TASK_QUEUE (a pool of its own)",
    )
    # Worker Deployment Versioning (infra/deployment.py): the deployment every worker polls as a
    # version of, and this worker's version; unset, a hash of the workflow-deciding code.
    temporal_deployment_name: str = "client-care"
    temporal_worker_build_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    temporal_worker_set_current: Literal["if-none", "always", "never"] = Field(
        default="if-none",
        description="on start, route new work to this version: only when the deployment has no "
        "current version yet (a new cluster), always (dev stack, docker compose), or never",
    )
    # repr=False on every secret: a Settings printed in a log line or traceback shows none.
    database_url: str | None = Field(
        default=None,
        repr=False,
        description="unset: the embedded PostgreSQL that the dev stack starts",
    )
    client_care_policy: Path | None = None
    client_care_keys: str | None = Field(
        default=None,
        repr=False,
        description="key ring: 'kid:base64key,kid:base64key' (first encrypts) or a file path; "
        "unset: the dev stack's generated .data/keys",
    )
    # TLS for the Temporal connection (e.g. Temporal Cloud or an mTLS cluster).
    temporal_tls: bool = False
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: str | None = Field(default=None, repr=False)
    # The codec server the Temporal UI and CLI call to decrypt payloads (docs/security.md).
    codec_server_host: str = Field(
        default="127.0.0.1", description="listen address; front it with TLS to expose it"
    )
    codec_server_port: int = 8234
    codec_server_token: str | None = Field(
        default=None,
        repr=False,
        description="bearer token, >= 32 chars; unset: the dev stack's .data/codec-token",
    )
    codec_public_url: str | None = Field(
        default=None,
        description="the codec server's public origin behind a TLS proxy (https://codec.example)",
    )
    codec_trust_forwarded: bool = Field(
        default=False,
        description="origin from X-Forwarded-Proto/-Host (only behind a proxy that sets them)",
    )
    client_care_cipher_suite: Literal["aes-256-gcm", "sm4-gcm"] = Field(
        default="aes-256-gcm",
        description="what new payloads and sealed fields are encrypted with: AES-256-GCM with "
        "HMAC-SHA256 blind indexes, or SM4-GCM with HMAC-SM3 (both always decrypt)",
    )
    client_care_require_payload_place: bool = Field(
        default=False,
        description="refuse payloads bound to no workflow (written before payloads were bound, "
        "or by the codec server's /encode) where the codec is bound to one (docs/security.md §2)",
    )
    client_care_payload_keys: str | None = Field(
        default=None,
        repr=False,
        description="the codec server's payload subkeys (python -m infra.keys payload-keys)",
    )
    codec_cors_origin: str = Field(
        default="http://localhost:8233",
        description="the Temporal UI's origin (comma-separated if several); the only one allowed",
    )
    # Worker tuning (README "Sizing a worker"): explicit, so a deployment changes them knowingly.
    worker_cached_workflows: int = Field(
        default=2000,
        ge=0,
        description="workflows kept in memory between tasks (~27 KiB each measured); a wake "
        "of a workflow not cached replays its history first",
    )
    worker_workflow_task_slots: int = Field(
        default=4,
        ge=1,
        description="workflow tasks processed at once: they share one interpreter lock, so "
        "more add latency, not throughput; 100 (and still 20) at once after a takeover took "
        "10-12 s each, past the 10 s workflow task timeout (tests/faults/test_worker_sigkill.py)",
    )
    worker_activity_slots: int = Field(
        default=32, ge=1, description="activities at once; also the activity thread pool's size"
    )
    worker_max_pollers: int = Field(
        default=5,
        ge=2,
        description="each task queue's pollers scale between 2 and this with the backlog",
    )
    metrics_bind_address: str | None = Field(
        default=None,
        description="host:port where the worker serves Prometheus /metrics; unset: no metrics",
    )
    # OpenTelemetry traces (docs/operations.md): the standard OTEL_* names; an endpoint turns
    # them on. The OpenTelemetry SDK reads the other OTEL_* settings itself.
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP base URL (http://collector:4318); unset: no traces"
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None, description="the traces URL itself, overriding the base one"
    )
    otel_exporter_otlp_protocol: str | None = Field(
        default=None, description="http/protobuf (the only one supported)"
    )
    otel_service_name: str | None = Field(
        default=None, description="unset: client-care-worker, client-care-starter"
    )
    otel_traces_exporter: str | None = Field(default=None, description="'none': no traces")
    otel_sdk_disabled: bool = False
    log_format: str | None = Field(default=None, description="console|json; unset: by terminal")
    # Message delivery (activities.delivery): the outbox's channels and retries.
    smtp_host: str | None = Field(default=None, description="unset: e-mail is not delivered")
    smtp_port: int = 587
    smtp_starttls: bool = Field(default=True, description="STARTTLS before credentials")
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_from: str = "Client Care <client-care@localhost>"
    smtp_timeout: float = 20.0
    sms_gateway_url: str | None = Field(
        default=None, description="the SMS gateway's POST endpoint; unset: SMS is not delivered"
    )
    sms_gateway_token: str | None = Field(default=None, repr=False, description="bearer token")
    sms_gateway_timeout: float = 10.0
    delivery_max_attempts: int = Field(default=10, ge=1, description="then the row is failed")
    delivery_first_backoff: float = Field(default=10.0, gt=0, description="seconds; doubles")
    delivery_max_backoff: float = Field(default=600.0, gt=0, description="seconds")
    delivery_poll_interval: float = Field(default=1.0, gt=0, description="seconds, when idle")
    dev_mail_sink_port: int = Field(default=8025, description="make run: the local mail sink")
    dev_sms_sink_port: int = Field(default=8026, description="make run: the local SMS sink")
    client_care_templates: Path | None = Field(
        default=None, description="the message templates' folder; unset: config/messages"
    )


class SettingsError(ValueError):
    """A setting the environment gives that cannot be used. The message names the settings and
    what is wrong, never the value given (it may be a secret)."""


def load_settings() -> Settings:
    """`Settings()`, with an invalid value reported as a `SettingsError` for the entry points to
    print and exit on, instead of pydantic's traceback (which echoes the value)."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in err.errors()
        )
        raise SettingsError(f"invalid setting: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
