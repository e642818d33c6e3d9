"""Signatures at the stand-in province: the request signature of every call after enrolment
(`authenticate`), and a batch's record signatures (`verify_jobs`), as the spec has them.

`speed/signature_pool.py` verifies a batch's record signatures on all cores instead, with the
same verdicts; `speed/ed25519.py` is the verification itself (libsodium).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from device.keys.signing import request_signing_bytes
from simulator.province.http_server import ApiError, Request, auth_error
from simulator.province.speed.ed25519 import verify
from simulator.province.store import ProvinceStore

CLOCK_WINDOW_SECONDS = 300
NONCE = re.compile(r"[0-9a-fA-F]{16,128}")
TIMESTAMP = re.compile(r"-?[0-9]{1,12}")
SIGNED_HEADERS = ("X-Device-Id", "X-Timestamp", "X-Nonce", "X-Signature")

SignatureJob = tuple[str, str, bytes]  # public key (base64), signature (base64), signed bytes


def authenticate(request: Request, store: ProvinceStore, clock: Callable[[], float]) -> str:
    """Check X-Device-Id/X-Timestamp/X-Nonce/X-Signature; return the device's id."""
    device_id, timestamp, nonce, signature = (request.headers.get(n) for n in SIGNED_HEADERS)
    if not (device_id and timestamp and nonce and signature):
        raise auth_error("a signed request needs the headers " + ", ".join(SIGNED_HEADERS))
    if not TIMESTAMP.fullmatch(timestamp):
        raise auth_error("X-Timestamp must be Unix seconds")
    if not NONCE.fullmatch(nonce):
        raise auth_error("X-Nonce must be 16 or more hex characters")
    keys = store.device_keys(device_id)
    if not keys:
        raise auth_error(f"unknown device {device_id}")
    signed = request_signing_bytes(request.method, request.path, timestamp, nonce, request.raw)
    if not any(verify(k, signature, signed) for k in keys.values()):
        raise auth_error("the request signature does not verify with this device's keys")
    now = clock()
    if abs(int(timestamp) - now) > CLOCK_WINDOW_SECONDS:
        raise ApiError(
            401,
            "E_CLOCK",
            f"X-Timestamp is more than {CLOCK_WINDOW_SECONDS} s from the server's clock",
            extra={"serverTime": int(now)},
        )
    if not store.remember_nonce(nonce, now):
        raise ApiError(401, "E_REPLAY", "this nonce was already used")
    if request.params.get("deviceId", device_id) != device_id:
        raise auth_error("a device may only act for itself")
    return device_id


def verify_jobs(jobs: list[SignatureJob]) -> list[bool]:
    """Whether each record signature verifies, in order, on the calling thread."""
    return [verify(public_b64, signature, data) for public_b64, signature, data in jobs]
