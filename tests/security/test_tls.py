"""TLS settings for the Temporal connection become a TLSConfig (infra.temporal.tls_config)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.client import TLSConfig

from infra.settings import Settings
from infra.temporal import TLSSettingsError, tls_config


def _settings(**values: object) -> Settings:
    base: dict[str, object] = {
        "temporal_tls": False,
        "temporal_api_key": None,
        "temporal_tls_client_cert": None,
        "temporal_tls_client_key": None,
        "temporal_tls_server_ca": None,
        "temporal_tls_server_name": None,
    }
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a client certificate signed by it, as PEM files."""
    out = tmp_path_factory.mktemp("pki")
    now = datetime.now(UTC)

    def cert(name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer, ca: bool):
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client-care test CA")])
    ca = cert("client-care test CA", ca_key, ca_name, ca_key, True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = cert("worker", client_key, ca_name, ca_key, False)
    files = {
        "ca": (out / "ca.pem", ca.public_bytes(serialization.Encoding.PEM)),
        "cert": (out / "client.pem", client.public_bytes(serialization.Encoding.PEM)),
        "key": (
            out / "client.key",
            client_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        ),
    }
    for path, data in files.values():
        path.write_bytes(data)
        path.chmod(0o600)
    return {name: path for name, (path, _data) in files.items()}


def test_no_tls_settings_mean_plain_connection() -> None:
    assert tls_config(_settings()) is False


def test_mtls_from_files(pki: dict[str, Path]) -> None:
    config = tls_config(
        _settings(
            temporal_tls_client_cert=pki["cert"],
            temporal_tls_client_key=pki["key"],
            temporal_tls_server_ca=pki["ca"],
            temporal_tls_server_name="temporal.internal",
        )
    )
    assert isinstance(config, TLSConfig)
    assert config.client_cert == pki["cert"].read_bytes()
    assert config.client_private_key == pki["key"].read_bytes()
    assert config.server_root_ca_cert == pki["ca"].read_bytes()
    assert config.domain == "temporal.internal"
    x509.load_pem_x509_certificate(config.client_cert)  # the bytes are the PEM, not a path


@pytest.mark.parametrize(
    "values",
    [
        {"temporal_tls": True},
        {"temporal_api_key": "cloud-api-key"},  # an API key must never travel in clear
        {"temporal_tls_server_name": "temporal.internal"},
    ],
    ids=["tls-flag", "api-key", "server-name"],
)
def test_tls_with_system_roots(values: dict[str, object]) -> None:
    config = tls_config(_settings(**values))
    assert isinstance(config, TLSConfig)
    assert config.client_cert is None and config.server_root_ca_cert is None


def test_half_or_missing_files_fail_naming_the_setting(
    pki: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(TLSSettingsError, match="both TEMPORAL_TLS_CLIENT_CERT and"):
        tls_config(_settings(temporal_tls_client_cert=pki["cert"]))
    with pytest.raises(TLSSettingsError, match="TEMPORAL_TLS_SERVER_CA: cannot read"):
        tls_config(_settings(temporal_tls_server_ca=tmp_path / "missing.pem"))
