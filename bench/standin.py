"""The stand-in province in its own process for benchmarks: `python -m simulator.province serve`
on a fixed loopback port, so it can be stopped (connections refused) and started again on the
same file; its admin interface and the CPU time it has used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from simulator import processes
from simulator.province.admin_client import AdminClient, AdminError

TICKS = os.sysconf("SC_CLK_TCK")
READY_POLL_S = 0.02


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class StandInProcess:
    """`start()` serves the file on the port, `stop()` ends the process (a real outage: the
    port then refuses connections), `start()` again serves the same file on the same port."""

    def __init__(self, db: Path, log: Path, tokens: Sequence[str] = ()) -> None:
        self.db = db
        self.log = log
        self.tokens = list(tokens)  # issued at the first start; they live in the file after
        self.port = free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.url = self.root_url + "/api/v1"
        self.admin = AdminClient(self.root_url, timeout=30.0)
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0  # how long the last start took until it answered

    def start(self, timeout_s: float = 60.0) -> float:
        """Start serving; returns the wall time at which it first answered."""
        args = [sys.executable, "-m", "simulator.province", "serve", "--db", str(self.db)]
        args += ["--port", str(self.port), "--log-level", "WARNING"]
        for token in self.tokens:
            args += ["--token", token]
        self.tokens = []
        launched = time.time()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        ready = self._wait_ready(timeout_s)
        self.startup_s = ready - launched
        return ready

    def _wait_ready(self, timeout_s: float) -> float:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.process is None or self.process.poll() is not None:
                break
            try:
                self.admin.faults()
            except AdminError:
                time.sleep(READY_POLL_S)
                continue
            return time.time()
        self.stop()
        raise RuntimeError(f"the stand-in province did not start; see {self.log}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (the stand-in drops its open connections), SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is not None:
            processes.stop(process, timeout_s)

    def cpu_seconds(self) -> float:
        """CPU used by the running process so far (0 when none is running)."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        try:
            return process_cpu_seconds(self.process.pid)
        except (OSError, IndexError, ValueError):
            return 0.0
