"""Signatures at the stand-in province: the request signature of every call after enrolment,
and record signatures of a batch verified on all cores at once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.signing import public_key_from_b64, request_signing_bytes, verify
from simulator.province.http_server import ApiError, Request, auth_error
from simulator.province.store import ProvinceStore

CLOCK_WINDOW_SECONDS = 300
PARALLEL_VERIFY_FROM = 32  # fewer signatures are verified on the request thread alone
NONCE = re.compile(r"[0-9a-fA-F]{16,128}")
TIMESTAMP = re.compile(r"-?[0-9]{1,12}")
SIGNED_HEADERS = ("X-Device-Id", "X-Timestamp", "X-Nonce", "X-Signature")


@functools.lru_cache(maxsize=4096)
def public_key(public_b64: str) -> Ed25519PublicKey:
    return public_key_from_b64(public_b64)


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
    signed = request_signing_bytes(request.method, request.path, timestamp, nonce, request.body)
    if not any(verify(public_key(k), signature, signed) for k in keys.values()):
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


SignatureJob = tuple[Ed25519PublicKey, str, bytes]  # key, signature (base64), signed bytes


def _verify_jobs(jobs: list[SignatureJob]) -> list[bool]:
    return [verify(public, signature, data) for public, signature, data in jobs]


class SignatureChecker:
    """Verifies a batch's record signatures on all cores at once.

    Ed25519 verification in `cryptography` releases the GIL. The request thread takes one
    share itself; callers do the pure-Python work first, because a verifying thread that has
    to win the GIL back from a busy Python thread waits up to the switch interval each time.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="province-verify")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def verify_all(self, jobs: list[SignatureJob]) -> list[bool]:
        pool = self._pool
        if pool is None or len(jobs) < PARALLEL_VERIFY_FROM:
            return _verify_jobs(jobs)
        size = -(-len(jobs) // self.workers)
        chunks = [jobs[start : start + size] for start in range(0, len(jobs), size)]
        futures = [pool.submit(_verify_jobs, chunk) for chunk in chunks[1:]]
        verdicts = _verify_jobs(chunks[0])
        for future in futures:
            verdicts.extend(future.result())
        return verdicts
