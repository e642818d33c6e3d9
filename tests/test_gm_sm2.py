"""The device's SM2 against OpenSSL 3 on many random keys: each signs, the other verifies;
keys whose x begins with hex 0 or 4 included; points off the curve and malformed signatures
refused; the device key file private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from device.keys import sm2
from tests.support import openssl_sm2

MESSAGE = b'<evaluations ts="1767225600000" nonce="00ff"><evaluation/></evaluations>'


def test_openssl_keys_and_signatures_agree_with_ours(tmp_path: Path) -> None:
    for i in range(12):
        pem, secret, public_hex = openssl_sm2.new_key(tmp_path, f"k{i}")
        ours = sm2.Sm2Key.from_secret(secret)
        assert ours.public_hex == public_hex  # the same point from the same scalar
        message = MESSAGE + bytes([i])
        assert sm2.verify(public_hex, message, openssl_sm2.sign(tmp_path, pem, message))
        public = openssl_sm2.public_pem(tmp_path, f"k{i}", public_hex)
        assert openssl_sm2.verifies(tmp_path, public, message, ours.sign(message))
        assert not sm2.verify(public_hex, message + b" ", openssl_sm2.sign(tmp_path, pem, message))


def test_keys_whose_x_begins_with_0_or_4_verify(tmp_path: Path) -> None:
    """The bug the spec warns of: a prefix '04' stripped character by character."""
    wanted = {"0": None, "4": None}
    while any(v is None for v in wanted.values()):
        key = sm2.Sm2Key.generate()
        first = key.public_hex[2]
        if first in wanted and wanted[first] is None:
            wanted[first] = key
    for first, key in wanted.items():
        assert key is not None
        signature = key.sign(MESSAGE)
        assert sm2.verify(key.public_hex, MESSAGE, signature), first
        public = openssl_sm2.public_pem(tmp_path, f"x{first}", key.public_hex)
        assert openssl_sm2.verifies(tmp_path, public, MESSAGE, signature), first


def test_two_signatures_of_one_message_differ() -> None:
    key = sm2.Sm2Key.generate()
    assert key.sign(MESSAGE) != key.sign(MESSAGE)  # a fresh nonce each time


def test_points_off_the_curve_and_bad_encodings_are_refused() -> None:
    key = sm2.Sm2Key.generate()
    signature = key.sign(MESSAGE)
    x, y = key.public_hex[2:66], int(key.public_hex[66:], 16)
    off_curve = "04" + x + f"{(y + 1) % sm2.P:064x}"
    assert sm2.public_key_problem(off_curve) is not None
    assert not sm2.verify(off_curve, MESSAGE, signature)
    assert sm2.public_key_problem(key.public_hex.upper().replace("0X", "")) is not None
    assert sm2.public_key_problem(key.public_hex[2:]) is not None
    r, s = sm2.parse_der_signature(signature)
    for bad in (
        signature + b"\x00",
        signature[:-1],
        sm2.der_signature(r, s + sm2.N),
        sm2.der_signature(0, s),
        b"\x30\x06\x02\x01\x00\x02\x01\x01",
    ):
        assert not sm2.verify(key.public_hex, MESSAGE, bad)
    other = sm2.Sm2Key.generate()
    assert not sm2.verify(other.public_hex, MESSAGE, signature)


def test_key_file_is_private_and_round_trips(tmp_path: Path) -> None:
    key = sm2.Sm2Key.generate()
    path = tmp_path / "device-sm2.key"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sm2.Sm2Key.load(path) == key
    path.chmod(0o644)
    with pytest.raises(sm2.Sm2Error, match="chmod 600"):
        sm2.Sm2Key.load(path)
    path.chmod(0o600)
    path.write_text("not a key\n")
    with pytest.raises(sm2.Sm2Error, match="not an SM2 private key"):
        sm2.Sm2Key.load(path)


def test_threads_signing_and_verifying_at_once_do_not_garble_each_other() -> None:
    """The stand-in answers calls on many threads, the sync signs heartbeats beside batches."""
    from concurrent.futures import ThreadPoolExecutor

    key = sm2.Sm2Key.generate()
    messages = [MESSAGE * (1 + i % 7) + bytes([i]) for i in range(64)]
    with ThreadPoolExecutor(8) as pool:
        signatures = list(pool.map(key.sign, messages))
        pairs = zip(messages, signatures, strict=True)
        checked = list(pool.map(lambda pair: sm2.verify(key.public_hex, *pair), pairs))
    assert all(checked)
    assert "secret" not in repr(key)
