"""The stand-in's speed-ups give what the plain path gives: libsodium verifies exactly the
signatures `cryptography` verifies, and the signed part cut out of a record's canonical bytes is
the record's signing bytes."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from device.keys.signing import DeviceKey, public_key_from_b64
from device.keys.signing import verify as plain_verify
from device.record.canonical import canonical_json, signing_bytes
from simulator.province.speed import ed25519
from simulator.province.speed.fast_json import signed_part

KEY = DeviceKey.generate()
OTHER = DeviceKey.generate()


def _both(public_b64: str, signature: str, data: bytes) -> tuple[bool, bool]:
    fast = ed25519.verify(public_b64, signature, data)
    plain = plain_verify(public_key_from_b64(public_b64), signature, data)
    return fast, plain


def test_libsodium_and_openssl_agree_on_good_and_bad_signatures():
    data = b"a record's signing bytes"
    good = KEY.sign(data)
    raw = bytearray(base64.b64decode(good))
    raw[5] ^= 1
    flipped = base64.b64encode(bytes(raw)).decode()
    cases = [
        (KEY.public_b64, good, data, True),
        (KEY.public_b64, good, data + b" changed", False),
        (OTHER.public_b64, good, data, False),
        (KEY.public_b64, flipped, data, False),
        (KEY.public_b64, "not base64!", data, False),
        (KEY.public_b64, base64.b64encode(b"short").decode(), data, False),
    ]
    for public_b64, signature, signed, expected in cases:
        assert _both(public_b64, signature, signed) == (expected, expected)


def test_a_malformed_public_key_verifies_nothing():
    assert not ed25519.verify("AAAA", KEY.sign(b"x"), b"x")
    assert not ed25519.verify("not base64!", KEY.sign(b"x"), b"x")


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(before=TEXT, after=TEXT, signature=TEXT, nested=st.dictionaries(TEXT, TEXT, max_size=3))
def test_the_signed_part_is_the_records_signing_bytes(before, after, signature, nested):
    nested.pop("signature", None)
    record = {
        "deviceId": before,
        "seq": 7,
        "signature": signature,
        "sitePayload": nested,
        "userName": after + ',"signature":"x"',
    }
    assert signed_part(canonical_json(record), signature) == signing_bytes(record)
