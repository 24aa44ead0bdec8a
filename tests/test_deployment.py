"""docker-compose.yml cannot run here (no Docker engine): its structure and wiring are checked,
and its certificates are made and verified (the roles it sets up: tests/test_database_roles.py).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from infra.binaries import temporal_cli
from infra.deployment import SERVER_DYNAMIC_CONFIG
from infra.settings import ROOT
from workflows.search_attributes import ALL

CERTS = "./deploy/tls/certs:/certs:ro"
APP_SERVICES = ("worker", "codec-server", "migrate")
TEMPORAL_CLIENTS = ("worker", "codec-server", "temporal-ui", "temporal-setup")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment with `${NAME:?message}` written as `${NAME}`."""
    env = service.get("environment") or {}
    return {k: re.sub(r"\$\{(\w+):\?[^}]*\}", r"${\1}", str(v)) for k, v in env.items()}


def _tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def test_services_and_images(services: dict[str, Any]) -> None:
    assert {
        "postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "migrate",
        "db-logins", "codec-server", "worker", "proxy", "prometheus", "grafana",
    } <= set(services)  # fmt: skip
    # the server image with admin-tools setting up its schema, as Temporal's own compose does
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    assert services["temporal-schema"]["entrypoint"] == ["/bin/sh", "/setup-schema.sh"]
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )
    assert not any("auto-setup" in str(s.get("image")) for s in services.values())
    for name in APP_SERVICES:
        assert services[name]["build"] == "."
        assert services[name]["image"] == "client-care:latest"
    for name, service in services.items():
        image = service.get("image", "")
        assert (":" in image and not image.endswith(":latest")) or name in APP_SERVICES, name


def test_temporal_versions_are_the_dev_stack_s(services: dict[str, Any]) -> None:
    said = subprocess.run(
        [temporal_cli(), "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"Server ([\d.]+), UI ([\d.]+)", said)
    assert found, said
    server, ui = found.groups()
    assert _tag(services["temporal"]["image"]) == server
    assert _tag(services["temporal-schema"]["image"]) == server
    assert _tag(services["temporal-setup"]["image"]) == server
    assert _tag(services["temporal-ui"]["image"]) == ui


def test_only_the_tls_proxy_is_published(services: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"proxy": ["443:443"]}
    caddyfile = (ROOT / "deploy/caddy/Caddyfile").read_text()
    sites = dict(
        re.findall(r"^\{\$(\w+)\}:443 \{.*?reverse_proxy ([\w-]+:\d+)", caddyfile, re.M | re.S)
    )
    assert sites == {"UI_HOST": "temporal-ui:8080", "CODEC_HOST": "codec-server:8234"}
    assert caddyfile.count("import hardened") == 2
    assert "tls /certs/proxy.pem /certs/proxy-key.pem" in caddyfile
    assert CERTS in services["proxy"]["volumes"]
    for upstream in sites.values():
        name, port = upstream.split(":")
        assert port in services[name]["expose"]
    env = _env(services["proxy"])
    assert env == {"UI_HOST": "${UI_HOST}", "CODEC_HOST": "${CODEC_HOST}"}


def test_the_ui_signs_in_with_oidc_and_decodes_through_the_codec_server_over_https(
    services: dict[str, Any],
) -> None:
    ui = _env(services["temporal-ui"])
    codec = _env(services["codec-server"])
    assert ui["TEMPORAL_AUTH_ENABLED"] == "true" and ui["TEMPORAL_AUTH_TYPE"] == "oidc"
    assert ui["TEMPORAL_AUTH_PROVIDER_URL"] == "${OIDC_PROVIDER_URL}"
    assert ui["TEMPORAL_AUTH_CLIENT_ID"] == "${OIDC_CLIENT_ID}"
    assert ui["TEMPORAL_AUTH_CLIENT_SECRET"] == "${OIDC_CLIENT_SECRET}"
    assert ui["TEMPORAL_AUTH_CALLBACK_URL"] == "https://${UI_HOST}/auth/sso/callback"
    assert ui["TEMPORAL_CSRF_COOKIE_INSECURE"] == "false"
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == codec["CODEC_PUBLIC_URL"] == "https://${CODEC_HOST}"
    assert codec["CODEC_CORS_ORIGIN"] == ui["TEMPORAL_CORS_ORIGINS"] == "https://${UI_HOST}"
    # the UI can only send the codec server's session cookie with credentials included
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert codec["CODEC_SERVER_HOST"] == "0.0.0.0" and codec["CODEC_SERVER_PORT"] == "8234"


def _issued() -> set[str]:
    script = (ROOT / "deploy/tls/make-certs.sh").read_text()
    return {"ca"} | set(re.findall(r"^issue (\w+)", script, re.M))


def _cert_paths(env: dict[str, str]) -> set[str]:
    return {v for v in env.values() if v.startswith("/certs/")}


def test_temporal_is_mtls_between_its_services_and_with_every_client(
    services: dict[str, Any],
) -> None:
    server = _env(services["temporal"])
    assert server["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    for side in ("INTERNODE", "FRONTEND"):
        assert server[f"TEMPORAL_TLS_{side}_SERVER_NAME"] == "temporal"
        assert server[f"TEMPORAL_TLS_{side}_DISABLE_HOST_VERIFICATION"] == "false"
    assert server["TEMPORAL_TLS_SERVER_CERT"] == server["TEMPORAL_TLS_FRONTEND_CERT"]
    assert server["TEMPORAL_TLS_CLIENT1_CA_CERT"] == server["TEMPORAL_TLS_SERVER_CA_CERT"]
    clients = {
        "worker": ("TEMPORAL_TLS_CLIENT_CERT", "TEMPORAL_TLS_CLIENT_KEY", "TEMPORAL_TLS_SERVER_CA",
                   "TEMPORAL_TLS_SERVER_NAME"),
        "codec-server": ("TEMPORAL_TLS_CLIENT_CERT", "TEMPORAL_TLS_CLIENT_KEY",
                         "TEMPORAL_TLS_SERVER_CA", "TEMPORAL_TLS_SERVER_NAME"),
        "temporal-ui": ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA",
                        "TEMPORAL_TLS_SERVER_NAME"),
        "temporal-setup": ("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH",
                           "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME"),
    }  # fmt: skip
    certs_of: dict[str, str] = {}
    for name, (cert, key, ca, server_name) in clients.items():
        env = _env(services[name])
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233", name
        assert env[ca] == "/certs/ca.pem", name
        assert env[server_name] == "temporal", name
        assert env[key] == env[cert].replace(".pem", "-key.pem"), name
        certs_of[name] = env[cert]
        assert CERTS in services[name]["volumes"], name
    assert len(set(certs_of.values())) == len(certs_of), "one client certificate per client"
    assert _env(services["worker"])["TEMPORAL_TLS"] == "true"
    assert _env(services["temporal-ui"])["TEMPORAL_TLS_ENABLE_HOST_VERIFICATION"] == "true"
    # every certificate named is one the script issues
    named = set().union(*(_cert_paths(_env(s)) for s in services.values()))
    stems = {Path(p).name.removesuffix(".pem").removesuffix("-key") for p in named}
    assert stems <= _issued(), stems - _issued()


def test_the_certificate_script_issues_a_working_chain(tmp_path: Path) -> None:
    subprocess.run(
        ["sh", str(ROOT / "deploy/tls/make-certs.sh"), str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", "UI_HOST": "ui.cc.example", "CODEC_HOST": "codec.cc.example"},
        check=True,
        capture_output=True,
    )
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    usage = {
        "temporal": {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH},
        "worker": {ExtendedKeyUsageOID.CLIENT_AUTH},
        "codec": {ExtendedKeyUsageOID.CLIENT_AUTH},
        "ui": {ExtendedKeyUsageOID.CLIENT_AUTH},
        "admin": {ExtendedKeyUsageOID.CLIENT_AUTH},
        "proxy": {ExtendedKeyUsageOID.SERVER_AUTH},
    }
    assert set(usage) | {"ca"} == _issued()
    for name, wanted in usage.items():
        cert = x509.load_pem_x509_certificate((tmp_path / f"{name}.pem").read_bytes())
        cert.verify_directly_issued_by(ca)
        assert set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == wanted
        assert (tmp_path / f"{name}-key.pem").exists()
    names = {
        name: x509.load_pem_x509_certificate((tmp_path / f"{name}.pem").read_bytes())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value.get_values_for_type(x509.DNSName)
        for name in ("temporal", "proxy")
    }
    assert names == {"temporal": ["temporal"], "proxy": ["ui.cc.example", "codec.cc.example"]}
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o077 == 0
    assert "certs/" in (ROOT / "deploy/tls/.gitignore").read_text()


def _migration_roles() -> dict[str, str]:
    path = next((ROOT / "migrations/versions").glob("0002_*.py"))
    spec = importlib.util.spec_from_file_location("roles_migration", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"writer": module.WRITER, "reporting": module.REPORTING, "auditor": module.AUDITOR,
            "codec": module.CODEC}  # fmt: skip


def _db_user(url: str) -> str:
    found = re.match(r"postgresql\+psycopg://(\w+):\$\{\w+\}@postgresql:5432/client_care$", url)
    assert found, url
    return found.group(1)


def test_every_service_connects_as_its_own_role(services: dict[str, Any]) -> None:
    users = {name: _db_user(_env(services[name])["DATABASE_URL"]) for name in APP_SERVICES}
    assert users == {
        "migrate": "client_care_owner",
        "worker": "cc_worker",
        "codec-server": "cc_codec",
    }
    logins = (ROOT / "deploy/postgres/logins.sql").read_text()
    member_of = {
        login: group for group, login in re.findall(r"^GRANT (\w+) TO (\w+);", logins, re.M)
    }
    roles = _migration_roles()
    assert member_of == {
        "cc_worker": roles["writer"],
        "cc_codec": roles["codec"],
        "cc_reporting": roles["reporting"],
        "cc_auditor": roles["auditor"],
    }
    temporal = _env(services["temporal"])
    schema = _env(services["temporal-schema"])
    assert temporal["POSTGRES_USER"] == schema["POSTGRES_USER"] == "temporal"
    assert temporal["DBNAME"] == schema["DBNAME"] == "temporal"
    assert temporal["VISIBILITY_DBNAME"] == schema["VISIBILITY_DBNAME"] == "temporal_visibility"
    assert temporal["POSTGRES_PWD"] == schema["SQL_PASSWORD"] == "${TEMPORAL_DB_PASSWORD}"
    assert _env(services["db-logins"])["PGUSER"] == "client_care_owner"
    # the superuser's password is the database's alone
    holders = [n for n, s in services.items() if "POSTGRES_PASSWORD" in str(s.get("environment"))]
    assert holders == ["postgresql"]
    init = services["postgresql"]["volumes"]
    assert (
        "./deploy/postgres/init-databases.sh:/docker-entrypoint-initdb.d/10-init-databases.sh:ro"
        in init
    )
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    for name in ("worker", "codec-server"):
        assert services[name]["depends_on"]["db-logins"]["condition"] == (
            "service_completed_successfully"
        )


def test_the_codec_server_holds_only_the_payload_subkeys(services: dict[str, Any]) -> None:
    ring_holders = [n for n, s in services.items() if "CLIENT_CARE_KEYS" in _env(s)]
    assert ring_holders == ["worker"]
    assert (
        _env(services["codec-server"])["CLIENT_CARE_PAYLOAD_KEYS"] == "${CLIENT_CARE_PAYLOAD_KEYS}"
    )


def test_every_secret_and_host_is_required(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    uses = re.findall(r"\$\{(\w+)(:\?|:-|-|\})", text)
    assert uses and all(how == ":?" for _name, how in uses), uses


def test_mounted_files_exist(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if not host.startswith("./") or volume == CERTS:
                continue
            assert (ROOT / host).exists(), f"{name} mounts {host}, which does not exist"


def test_prometheus_scrapes_temporal_and_grafana_reads_prometheus(services: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    port = _env(services["temporal"])["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    assert f"temporal:{port}" in targets
    for name in ("worker", "codec-server"):
        port = _env(services[name])["METRICS_BIND_ADDRESS"].rsplit(":", 1)[1]
        assert f"{name}:{port}" in targets
    for target in targets:
        name, port = target.split(":")
        assert port in services[name]["expose"], target
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert (
        datasource["url"] == "http://prometheus:9090" and "9090" in services["prometheus"]["expose"]
    )
    grafana = _env(services["grafana"])
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD}"


def test_every_contract_search_attribute_is_registered(services: dict[str, Any]) -> None:
    setup = services["temporal-setup"]
    mount = setup["volumes"][0].split(":")[0]
    script = (ROOT / mount).read_text()
    registered = dict(re.findall(r"(\w+)=(Keyword|Datetime|Bool|Int)", script))
    from infra.temporal import _type_name

    assert registered == {key.name: _type_name(key) for key in ALL}
    assert "namespace create" in script  # the server image creates no namespace itself


def test_worker_wiring(services: dict[str, Any]) -> None:
    worker = services["worker"]
    env = _env(worker)
    assert env["TEMPORAL_TASK_QUEUE"] == "client-care"
    assert worker["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    assert worker["command"] == ["python", "worker.py"]


def test_the_worker_runs_as_a_deployment_version_the_server_routes_to(
    compose: dict[str, Any],
) -> None:
    temporal = compose["services"]["temporal"]
    major, minor = (int(p) for p in _tag(temporal["image"]).split(".")[:2])
    assert (major, minor) >= (1, 28), "Worker Deployment Versioning needs server 1.28+"
    # the dynamic config the dev stack and the tests pass as flags, in compose's file
    mounted = {v.split(":")[1]: v.split(":")[0] for v in temporal["volumes"]}
    config_path = _env(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    dynamic = yaml.safe_load((ROOT / mounted[config_path]).read_text())
    for key, value in SERVER_DYNAMIC_CONFIG.items():
        assert dynamic[key] == [{"value": value, "constraints": {}}], key
    worker = _env(compose["services"]["worker"])
    # without a current version no workflow task reaches a versioned worker
    assert worker["TEMPORAL_WORKER_SET_CURRENT"] == "always"
    assert worker["TEMPORAL_DEPLOYMENT_NAME"] == "client-care"


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
