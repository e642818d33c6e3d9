"""The local API's device certificate: self-signed ECDSA P-256, the device id in its subject,
its key beside the device key (0600). The business system pins its SHA-256 fingerprint
(`haochaping-provision show`, the asset label), so no certificate authority is involved.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from device.keys.private_file import write_private
from device.local_api.tls import (
    certificate_key_path,
    certificate_path,
    fingerprint,
    settle_certificate,
    staged,
)

ORGANISATION = "haochaping evaluator"
VALID_DAYS = 20 * 365  # pinned, not checked against a CA: it lasts the device's life


def make_certificate(state_dir: Path, device_id: str) -> str:
    """Make (or replace) the certificate and its key; returns the fingerprint to pin."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, device_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    settle_certificate(state_dir)  # a change cut short before: finish it first
    cert, cert_key = certificate_path(state_dir), certificate_key_path(state_dir)
    write_private(staged(cert_key), key_pem)
    write_private(staged(cert), pem)  # from here on the new pair is the one to use
    settle_certificate(state_dir)
    return fingerprint(pem)


def certificate_fingerprint(state_dir: Path) -> str | None:
    """The fingerprint of the certificate there, or None when there is none (or unreadable)."""
    try:
        settle_certificate(state_dir)
        return fingerprint(certificate_path(state_dir).read_bytes())
    except (OSError, ValueError):
        return None
