"""docker-compose.yml cannot run here (no Docker engine): its structure and wiring are checked."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from infra.settings import ROOT
from workflows.search_attributes import ALL


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def test_services_and_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {
        "postgresql",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "worker",
        "codec-server",
        "migrate",
    } <= set(services)
    assert services["postgresql"]["image"].startswith("postgres:")
    assert services["temporal"]["image"].startswith("temporalio/auto-setup:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    for name in ("worker", "codec-server", "migrate"):
        assert services[name]["build"] == "."
        assert services[name]["image"] == "client-care:latest"


def test_temporal_runs_on_the_postgresql_service(compose: dict[str, Any]) -> None:
    temporal = compose["services"]["temporal"]
    env = _env(temporal)
    assert env["DB"].startswith("postgres")
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert temporal["depends_on"]["postgresql"]["condition"] == "service_healthy"


def test_every_contract_search_attribute_is_registered(compose: dict[str, Any]) -> None:
    setup = compose["services"]["temporal-setup"]
    mount = setup["volumes"][0].split(":")[0]
    script = (ROOT / mount).read_text()
    registered = dict(re.findall(r"(\w+)=(Keyword|Datetime|Bool|Int)", script))
    from infra.temporal import _type_name

    assert registered == {key.name: _type_name(key) for key in ALL}


def test_ui_uses_the_codec_server(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ui_env = _env(services["temporal-ui"])
    codec = services["codec-server"]
    codec_env = _env(codec)
    port = codec_env["CODEC_SERVER_PORT"]
    assert ui_env["TEMPORAL_CODEC_ENDPOINT"].endswith(f":{port}")
    assert f"{port}:{port}" in codec["ports"]
    ui_port = services["temporal-ui"]["ports"][0].split(":")[0]
    assert codec_env["CODEC_CORS_ORIGIN"] == f"http://localhost:{ui_port}"
    assert ui_env["TEMPORAL_ADDRESS"] == "temporal:7233"
    # the UI can only send the codec server's session cookie with credentials included
    assert ui_env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"


def test_worker_wiring(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    env = _env(worker)
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["TEMPORAL_TASK_QUEUE"] == "client-care"
    assert "@postgresql:5432/client_care" in env["DATABASE_URL"]
    assert "CLIENT_CARE_KEYS" in env
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    assert worker["command"] == ["python", "worker.py"]


def test_dockerfile_copies_every_package_it_runs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-deps ." in dockerfile
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    copied = set(re.findall(r"^COPY (\w+) \./", dockerfile, flags=re.M))
    not_shipped = {"tests", "bench"}  # the image runs the service, not its tests or benchmarks
    packages = {
        p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in not_shipped
    }
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    for path in copied:
        assert (ROOT / path).exists(), f"Dockerfile copies {path}, which does not exist"
