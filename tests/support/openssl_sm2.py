"""OpenSSL 3 as the independent SM2 implementation the device's is checked against: keys made
by `openssl genpkey`, signatures made and checked by `openssl pkeyutl` with the default
distinguishing id."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

DISTID = "distid:1234567812345678"
# SubjectPublicKeyInfo of an SM2 key up to the point: id-ecPublicKey, the sm2 curve OID,
# then a BIT STRING of 66 bytes holding 04 || x || y
SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, check=False)


def new_key(folder: Path, name: str) -> tuple[Path, int, str]:
    """A fresh SM2 key made by OpenSSL: (PEM path, private scalar, public hex)."""
    pem = folder / f"{name}.pem"
    assert _run("genpkey", "-algorithm", "SM2", "-out", str(pem)).returncode == 0
    text = _run("pkey", "-in", str(pem), "-text", "-noout").stdout.decode()
    priv = re.search(r"priv:\s*([0-9a-f:\s]+)pub:", text)
    pub = re.search(r"pub:\s*([0-9a-f:\s]+)ASN1", text)
    assert priv and pub, text
    secret = int(re.sub(r"[^0-9a-f]", "", priv.group(1)), 16)
    return pem, secret, re.sub(r"[^0-9a-f]", "", pub.group(1))


def public_pem(folder: Path, name: str, public_hex: str) -> Path:
    der = SPKI_PREFIX + bytes.fromhex(public_hex)
    path = folder / f"{name}.pub.pem"
    body = base64.encodebytes(der).decode()
    path.write_text(f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n")
    return path


def sign(folder: Path, pem: Path, message: bytes) -> bytes:
    (folder / "message").write_bytes(message)
    out = folder / "signature.der"
    result = _run(
        "pkeyutl", "-sign", "-in", str(folder / "message"), "-inkey", str(pem), "-rawin",
        "-digest", "sm3", "-pkeyopt", DISTID, "-out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def verifies(folder: Path, public: Path, message: bytes, signature: bytes) -> bool:
    (folder / "message").write_bytes(message)
    (folder / "signature.der").write_bytes(signature)
    result = _run(
        "pkeyutl", "-verify", "-in", str(folder / "message"), "-pubin", "-inkey", str(public),
        "-rawin", "-digest", "sm3", "-pkeyopt", DISTID, "-sigfile", str(folder / "signature.der"),
    )  # fmt: skip
    return result.returncode == 0 and b"Verified Successfully" in result.stdout
