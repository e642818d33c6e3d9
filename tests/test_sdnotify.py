"""Under systemd (Type=notify, WatchdogSec): both programs say READY once up, pet the
watchdog from their main loops, and say STOPPING on SIGTERM — seen on a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from device.daemon.config import save
from tests.support import ROOT
from tests.support.evaluator import make_config
from tests.support.sync import Device


def _listen(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    return sock


def _messages(sock, until: str, seconds: float) -> list[str]:
    seen: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and until not in seen:
        try:
            seen.append(sock.recv(256).decode())
        except TimeoutError:
            continue
    return seen


def _run(module: str, config_path, sock_path):
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(sock_path),
        "WATCHDOG_USEC": "400000",
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
    }
    env.pop("WATCHDOG_PID", None)
    return subprocess.Popen(
        [sys.executable, "-m", module, "run", "--config", str(config_path)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _lifecycle(sock, process) -> None:
    try:
        seen = _messages(sock, "READY=1", 30)
        assert "READY=1" in seen
        pets = [m for m in _messages(sock, "never", 1.5) if m == "WATCHDOG=1"]
        assert len(pets) >= 3  # every 0.2 s for a 0.4 s watchdog
        process.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in _messages(sock, "STOPPING=1", 10)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_the_evaluator_speaks_to_systemd(tmp_path):
    config = make_config(tmp_path)
    save(config, tmp_path / "device.toml")
    with _listen(tmp_path) as sock:
        _lifecycle(sock, _run("device", tmp_path / "device.toml", tmp_path / "notify.sock"))


def test_the_sync_speaks_to_systemd(tmp_path, province):
    device = Device(tmp_path, province)
    with _listen(tmp_path) as sock:
        _lifecycle(sock, _run("sync", device.config_path, tmp_path / "notify.sock"))
