"""Engine and sessions for the projections database."""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from infra.settings import Settings

DEV_PG_PORT = int(os.environ.get("CLIENT_CARE_PG_PORT", "55432"))
DEV_DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:{DEV_PG_PORT}/client_care"


def database_url(settings: Settings) -> str:
    url = settings.database_url or DEV_DATABASE_URL
    # Accept the plain libpq form users paste; SQLAlchemy needs the driver named.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: object) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)  # type: ignore[arg-type]


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
