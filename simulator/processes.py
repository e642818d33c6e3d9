"""Starting and stopping the device's programs as real child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def device_env(headless: bool) -> dict[str, str]:
    env = dict(os.environ)
    if headless:
        env["SDL_VIDEODRIVER"] = "dummy"
        env["SDL_AUDIODRIVER"] = "dummy"
    env.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    return env


def start_module(
    module: str, args: list[str], log_path: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """`python -m module args…`, its output to log_path, in its own process group."""
    log = log_path.open("ab")
    try:
        return subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    finally:
        log.close()


def stop(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> int:
    """SIGTERM, then SIGKILL if it does not stop in time; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout_s)
    return process.returncode
