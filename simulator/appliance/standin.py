"""The stand-in province for an appliance in QEMU: HTTPS on the host's 127.0.0.1 with a
throwaway CA, its certificate naming the address the guest uses (10.0.2.100), and one
enrolment token. The guest trusts it through `haochaping-provision init --ca-bundle`."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simulator.appliance.machine import PROVINCE_IN_GUEST
from simulator.province.server import ProvinceServer
from simulator.province.store import ProvinceStore

CERT_DAYS = 2


@dataclass(frozen=True)
class StandIn:
    server: ProvinceServer
    store: ProvinceStore
    ca_pem: bytes  # what the guest must trust
    token: str  # the one enrolment token issued
    db_path: Path

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def guest_url(self) -> str:
        """The province's base URL as the guest reaches it."""
        return f"https://{PROVINCE_IN_GUEST}:{self.port}{self.server.base_path}"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def server_context(folder: Path) -> tuple[bytes, ssl.SSLContext]:
    """A new CA and a server certificate for 10.0.2.2 and 127.0.0.1 signed by it: returns the
    CA's PEM and the server's TLS context (the keys stay in *folder*)."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=CERT_DAYS))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Stand-in province CA (VM test)"))
        .issuer_name(_name("Stand-in province CA (VM test)"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    addresses = [x509.IPAddress(ipaddress.ip_address(a)) for a in (PROVINCE_IN_GUEST, "127.0.0.1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(PROVINCE_IN_GUEST))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(addresses), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "province.pem", folder / "province.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return ca.public_bytes(serialization.Encoding.PEM), context


@contextmanager
def running_standin(folder: Path) -> Iterator[StandIn]:
    """Serve the stand-in over *folder*/province.db until the block ends."""
    ca_pem, context = server_context(folder)
    store = ProvinceStore(folder / "province.db")
    token = "vm-" + secrets.token_hex(8)
    store.add_token(token, 3600, now=time.time())
    server = ProvinceServer(store, tls=context)
    server.start()
    try:
        yield StandIn(server, store, ca_pem, token, folder / "province.db")
    finally:
        server.stop()
        store.close()
