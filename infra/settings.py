"""Settings from the environment (and an optional `.env`), named as CONTRACT.md fixes them."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

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
    database_url: str | None = Field(
        default=None, description="unset: the embedded PostgreSQL that the dev stack starts"
    )
    client_care_policy: Path | None = None
    client_care_keys: str | None = Field(
        default=None,
        description="key ring: 'kid:base64key,kid:base64key' (first encrypts) or a file path; "
        "unset: the dev stack's generated .data/keys",
    )
    # TLS for the Temporal connection (e.g. Temporal Cloud or an mTLS cluster).
    temporal_tls: bool = False
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: str | None = None
    # The codec server the Temporal UI and CLI call to decrypt payloads.
    codec_server_port: int = 8234
    codec_server_token: str | None = None
    codec_cors_origin: str = "http://localhost:8233"
    log_format: str | None = Field(default=None, description="console|json; unset: by terminal")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
