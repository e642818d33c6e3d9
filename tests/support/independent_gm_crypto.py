"""国密 primitives for the independent 国密 province, written from the interface document alone:
SM2 through OpenSSL 3's command line (a different implementation from the device's), SM3 and
SM4-CBC through `cryptography`, and the key derivation the document prescribes."""

from __future__ import annotations

import base64
import binascii
import re
import subprocess
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DISTID = "1234567812345678"
# SubjectPublicKeyInfo header of an SM2 key: id-ecPublicKey with the curve sm2p256v1, then
# the 65-byte uncompressed point in a BIT STRING.
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
PUBLIC_KEY_HEX = re.compile(r"04[0-9a-f]{128}")


class CryptoRefusedError(ValueError):
    """Bytes that do not decode, decrypt or verify as the document says."""


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sm4_key(app_secret: str) -> bytes:
    """First 16 bytes of the raw SM3 of the appSecret's text, exactly as issued."""
    return sm3(app_secret.encode("utf-8"))[:16]


def strict_b64(text: str) -> bytes:
    """Standard base64 with padding, no line breaks, nothing else."""
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) or len(text) % 4:
        raise CryptoRefusedError("not standard base64")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise CryptoRefusedError("not standard base64") from exc


def sm4_seal(key: bytes, plain: bytes, iv: bytes) -> str:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(padded) + enc.finalize()).decode("ascii")


def sm4_open(key: bytes, sealed: str) -> bytes:
    raw = strict_b64(sealed)
    if len(raw) < 32 or len(raw) % 16:
        raise CryptoRefusedError("IV and ciphertext have the wrong length")
    dec = Cipher(algorithms.SM4(key), modes.CBC(raw[:16])).decryptor()
    padded = dec.update(raw[16:]) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise CryptoRefusedError("bad PKCS#7 padding") from exc


def _openssl(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, timeout=30, check=False)


class Sm2Key:
    """An SM2 key pair held by OpenSSL in a PEM file; its public key as the document's hex."""

    def __init__(self, directory: Path) -> None:
        self.pem = directory / "province-sm2.pem"
        made = _openssl(["genpkey", "-algorithm", "SM2", "-out", str(self.pem)])
        if made.returncode:
            raise RuntimeError(made.stderr.decode())
        der = _openssl(["pkey", "-in", str(self.pem), "-pubout", "-outform", "DER"]).stdout
        if not der.startswith(_SPKI_PREFIX) or len(der) != len(_SPKI_PREFIX) + 65:
            raise RuntimeError("OpenSSL wrote an SM2 public key of an unexpected form")
        self.public_hex = der[len(_SPKI_PREFIX) :].hex()

    def sign(self, message: bytes) -> bytes:
        """DER SM2 signature with the default user id over `message`."""
        with tempfile.TemporaryDirectory() as tmp:
            msg, sig = Path(tmp) / "m", Path(tmp) / "s"
            msg.write_bytes(message)
            done = _openssl(
                ["pkeyutl", "-sign", "-inkey", str(self.pem), "-rawin", "-digest", "sm3",
                 "-pkeyopt", f"distid:{DISTID}", "-in", str(msg), "-out", str(sig)]
            )  # fmt: skip
            if done.returncode:
                raise RuntimeError(done.stderr.decode())
            return sig.read_bytes()


def sm2_verify(public_hex: str, message: bytes, der_signature: bytes) -> bool:
    """Whether `der_signature` is an SM2 signature over `message` by the key `public_hex`.

    OpenSSL refuses to load a point that is not on the curve, so such a key verifies nothing.
    """
    if not PUBLIC_KEY_HEX.fullmatch(public_hex):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        pub, msg, sig = Path(tmp) / "p.der", Path(tmp) / "m", Path(tmp) / "s"
        pub.write_bytes(_SPKI_PREFIX + bytes.fromhex(public_hex))
        msg.write_bytes(message)
        sig.write_bytes(der_signature)
        done = _openssl(
            ["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", str(pub), "-rawin",
             "-digest", "sm3", "-pkeyopt", f"distid:{DISTID}", "-in", str(msg),
             "-sigfile", str(sig)]
        )  # fmt: skip
        return done.returncode == 0 and b"Signature Verified Successfully" in done.stdout
