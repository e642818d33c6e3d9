"""A province that lies: redirects, garbage, NaN clocks, huge and dripping bodies. The real
`haochaping-sync once` runs against a hostile server on 127.0.0.1; nothing may be marked
delivered, nothing may reach another host, the sync must neither crash nor swell."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from device.daemon.config import save
from device.ledger.store import Ledger
from sync.answers import server_time
from tests.support import ROOT
from tests.support.hostile import Answer
from tests.support.sync import Device


def _json(status: int, body: str, headers: dict[str, str] | None = None) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        data = body.encode()
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return answer


def _pointed_at(device: Device, url: str) -> Device:
    province = dataclasses.replace(device.config.province, base_url=url)
    device.config = dataclasses.replace(device.config, province=province)
    save(device.config, device.config_path)
    return device


def _config_args(device: Device) -> list[str]:
    return ["--config", str(device.config_path)]


def _sync_once(
    device: Device, timeout_s: float = 10
) -> tuple[subprocess.CompletedProcess[str], float]:
    config_args = ["--config", str(device.config_path)]
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sync", "once", "--timeout", str(timeout_s), *config_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return result, time.monotonic() - started


def _nothing_delivered(device: Device, count: int) -> None:
    with Ledger(device.config.ledger_path) as ledger:
        assert ledger.backlog() == count
        assert ledger.quarantined() == 0


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_never_followed(unsent_device, hostile, status):
    device = unsent_device
    elsewhere = hostile(_json(200, json.dumps({"results": []})))
    redirector = hostile(_json(status, "{}", {"Location": elsewhere.url + "/evaluations:batch"}))
    result, _ = _sync_once(_pointed_at(device, redirector.url))
    assert result.returncode != 0
    assert elsewhere.requests == []  # the signed batch, personal data included, went nowhere
    assert "redirects to" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    _nothing_delivered(device, 2)


@pytest.mark.parametrize(
    "body",
    ["[]", '"a string"', "null", "42", '{"code": 7}', "not json at all", ""],
)
@pytest.mark.parametrize("status", [200, 500])
def test_garbage_answers_are_retried_never_a_crash_or_a_delivery(
    unsent_device, hostile, status, body
):
    device = unsent_device
    server = hostile(_json(status, body))
    result, _ = _sync_once(_pointed_at(device, server.url), timeout_s=3)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    _nothing_delivered(device, 2)


def test_accepted_results_for_other_records_deliver_nothing(unsent_device, hostile):
    device = unsent_device
    lie = {"results": [{"evaluationId": "x", "status": "accepted"}] * 2}
    server = hostile(_json(200, json.dumps(lie)))
    result, _ = _sync_once(_pointed_at(device, server.url), timeout_s=3)
    assert result.returncode != 0
    _nothing_delivered(device, 2)


@pytest.mark.parametrize("when", ["NaN", "Infinity", "-1", "1e300", '"soon"', "true"])
def test_an_absurd_server_time_is_refused(unsent_device, hostile, when):
    device = unsent_device
    server = hostile(_json(401, f'{{"code": "E_CLOCK", "message": "m", "serverTime": {when}}}'))
    result, _ = _sync_once(_pointed_at(device, server.url), timeout_s=3)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    _nothing_delivered(device, 2)


def test_server_time_is_read_as_seconds_or_as_beijing_time():
    assert server_time(1_790_000_000) == 1_790_000_000.0
    assert server_time("2026-12-01 08:00:00") == server_time(1_796_083_200)
    for absurd in (float("nan"), float("inf"), 1e300, -5, True, "2026-13-01 00:00:00", None):
        assert server_time(absurd) is None


def _peak_rss_kib(process: subprocess.Popen[bytes], limit_s: float) -> int:
    """The process's own high-water mark (VmHWM, counted from its exec), read until it ends."""
    peak = 0
    deadline = time.monotonic() + limit_s
    while process.poll() is None and time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            break
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
        time.sleep(0.05)
    return peak


def test_a_huge_body_does_not_swell_the_sync(unsent_device, hostile):
    device = unsent_device

    def flood(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()  # no length: read until the end, which is 150 MB away
        chunk = b"[" * (1024 * 1024)
        for _ in range(150):
            handler.wfile.write(chunk)

    server = hostile(flood)
    _pointed_at(device, server.url)
    sync = subprocess.Popen(
        [sys.executable, "-m", "sync", "once", "--timeout", "5", *_config_args(device)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak_kib = _peak_rss_kib(sync, limit_s=60)
    _, stderr = sync.communicate(timeout=60)
    assert sync.returncode != 0
    assert b"exceeds" in stderr and b"Traceback" not in stderr
    assert 0 < peak_kib < 100 * 1024, f"{peak_kib} KiB"  # the unit's MemoryMax=100M
    _nothing_delivered(device, 2)


def _dripping(head: bytes, drop: bytes, stop: threading.Event) -> Answer:
    """An answer that starts with *head*, then drips *drop* every half second: no single
    read ever waits long enough to time out."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(head)
        while not stop.is_set():
            handler.wfile.write(drop)
            handler.wfile.flush()
            stop.wait(0.5)

    return answer


BODY_DRIP = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
    b" ",
)
HEADER_DRIP = (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a")  # a header that never ends


@pytest.mark.parametrize(("head", "drop"), [BODY_DRIP, HEADER_DRIP], ids=["body", "headers"])
def test_a_province_dripping_its_answer_cannot_hold_the_sync(unsent_device, hostile, head, drop):
    stop = threading.Event()
    device = _pointed_at(unsent_device, hostile(_dripping(head, drop, stop)).url)
    sync = dataclasses.replace(device.config.sync, connect_timeout_s=2, read_timeout_s=3)
    device.config = dataclasses.replace(device.config, sync=sync)
    save(device.config, device.config_path)
    try:
        result, took = _sync_once(device, timeout_s=5)
    finally:
        stop.set()
    assert result.returncode != 0
    assert "too slow" in result.stderr
    assert took < 30, f"sync once --timeout 5 took {took:.0f} s"
    _nothing_delivered(device, 2)
