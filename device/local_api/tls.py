"""The local API's HTTPS: where the device certificate and its key lie (beside the device key),
its SHA-256 fingerprint that the business system pins, and the server's TLS context.

The certificate is made at provisioning (`provisioning.certificate`) as a staged pair:
both files written under `.new` names first, then renamed key first, certificate second.
`settle_certificate` finishes or discards a pair a power cut left half-renamed, so the two
files in use always belong together: the old pair or the new, never a key with another's
certificate.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from pathlib import Path

from device.errors import HaochapingError
from device.keys.private_file import fsync_folder, replace_durably

log = logging.getLogger(__name__)

CERTIFICATE_FILE = "local_api.crt"
CERTIFICATE_KEY_FILE = "local_api.key"


class CertificateError(HaochapingError):
    """The local API must serve HTTPS but its certificate cannot be used."""

    code = "E_CONFIG"


def certificate_path(state_dir: Path) -> Path:
    return state_dir / CERTIFICATE_FILE


def certificate_key_path(state_dir: Path) -> Path:
    return state_dir / CERTIFICATE_KEY_FILE


STAGED_SUFFIX = ".new"


def staged(path: Path) -> Path:
    return path.with_name(path.name + STAGED_SUFFIX)


def settle_certificate(state_dir: Path) -> None:
    """Finish a certificate change cut short: a staged certificate is renamed into place
    (its key went first); a staged key alone is the start of a change that never got its
    certificate written, so it is dropped and the pair in use stays."""
    cert, key = certificate_path(state_dir), certificate_key_path(state_dir)
    staged_cert, staged_key = staged(cert), staged(key)
    if staged_cert.exists():
        if staged_key.exists():
            replace_durably(staged_key, key)
        replace_durably(staged_cert, cert)
    elif staged_key.exists():
        staged_key.unlink()
        fsync_folder(state_dir)


def fingerprint(certificate_pem: bytes) -> str:
    """SHA-256 of the certificate (DER), as `AB:CD:…`: what a client pins."""
    der = ssl.PEM_cert_to_DER_cert(certificate_pem.decode("ascii"))
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def server_context(state_dir: Path) -> ssl.SSLContext:
    """The TLS context serving the device certificate (TLS 1.2 or newer); its fingerprint is
    logged, so the journal says what clients must pin."""
    cert, key = certificate_path(state_dir), certificate_key_path(state_dir)
    try:
        settle_certificate(state_dir)
        pem = cert.read_bytes()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        log.info("local API serves HTTPS, certificate SHA-256 %s", fingerprint(pem))
        return context
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise CertificateError(
            f"the local API serves HTTPS (bind off loopback, or [local_api] tls = true) but "
            f"its certificate {cert} with key {key} cannot be used ({exc}); "
            "make one with `haochaping-provision certificate`"
        ) from exc
