"""A real evaluator process, started with only 256 open files, flooded on its local API with
idle connections and clients dribbling their headers: it keeps running, answers a well-behaved
client during and after, turns a case and a key press into a stored rating, and its log stays
a few lines long. And a failing upkeep job in its main loop is never fatal."""

from __future__ import annotations

import errno
import os
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device.evaluator.health import HealthCheck
from device.flow import pace
from device.record import tag_catalog
from simulator import processes
from simulator.hall import SimulatedWindow, StandInProvince
from simulator.local_client import EvaluatorClient
from tests.support import ROOT
from tests.support.evaluator import Driver, make_config
from tests.support.flood import SlowHeaders, close_all, idle_connections, status_answers
from tests.support.local_api import WANG
from tests.support.polling import wait_until

OPEN_FILES = 256
FLOOD = 600  # idle connections: more than the evaluator may open files
MAX_LOG_LINES = 40


def _few_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


class LowFileWindow:
    """A provisioned window whose evaluator runs under a lowered RLIMIT_NOFILE."""

    def __init__(self, workdir: Path) -> None:
        self.province = StandInProvince(workdir)
        self.window = SimulatedWindow(workdir / "window", self.province)
        self.log = workdir / "evaluator.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LowFileWindow:
        self.province.start()
        self.window.workdir.mkdir(parents=True)
        config = self.window.provision()
        self.window.keypad.start()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "device", "run", "--config", str(self.window.config_path)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=processes.device_env(headless=True),
                preexec_fn=_few_open_files,  # noqa: PLW1509 (only setrlimit, before exec)
            )
        self.url = f"http://127.0.0.1:{config.local_api.port}/api/v1"
        self.port = config.local_api.port
        self.token = config.local_api.token
        self.ledger = config.ledger_path
        self.client = EvaluatorClient(self.url, self.token)
        self.client.wait_for(lambda s: s["keypadConnected"] is True, 30, "evaluator up", self.gone)
        self.client.sign_in("0421", "王敏")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self.process is not None:
            processes.stop(self.process)
        self.window.keypad.stop()
        self.province.close()

    def gone(self) -> str | None:
        assert self.process is not None
        if self.process.poll() is None:
            return None
        return f"exited {self.process.returncode}: {self.log.read_text(errors='replace')[-500:]}"

    def open_files(self) -> int:
        assert self.process is not None
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def ratings(self) -> list[int]:
        conn = sqlite3.connect(f"file:{self.ledger}?mode=ro", uri=True)
        try:
            return [row[0] for row in conn.execute("SELECT seq FROM ratings")]
        finally:
            conn.close()


@pytest.fixture
def low_files(tmp_path: Path) -> Iterator[LowFileWindow]:
    with LowFileWindow(tmp_path) as window:
        yield window


def test_a_flood_of_clients_cannot_take_the_evaluator_down(low_files):
    window = low_files
    lines_before = len(window.log.read_text(errors="replace").splitlines())
    flood = idle_connections("127.0.0.1", window.port, FLOOD)
    try:
        with SlowHeaders("127.0.0.1", window.port, count=40, every_s=0.5) as slow:
            # during the flood
            assert window.gone() is None
            assert window.open_files() < OPEN_FILES - 100
            wait_until(lambda: status_answers(window.url, window.token), "status during flood")
            window.client.push_case({"projectNo": "FLOOD-1", "taskCode": "T", "taskName": "事项"})
            window.client.wait_for(
                lambda s: s["projectNo"] == "FLOOD-1" and s["phase"] == "rating",
                10,
                "the case on screen during the flood",
                window.gone,
            )
            window.window.keypad.press(1)
            window.client.wait_for(
                lambda s: s["ratedSinceStart"] == 1, 10, "the rating stored", window.gone
            )
            wait_until(lambda: slow.all_ended, "the slow clients cut off", timeout=20)
            assert slow.answers == []
    finally:
        close_all(flood)
    # after the flood
    assert window.gone() is None
    assert status_answers(window.url, window.token)
    assert len(window.ratings()) == 1
    window.client.push_case({"projectNo": "FLOOD-2", "taskCode": "T", "taskName": "事项"})
    window.client.wait_for(lambda s: s["projectNo"] == "FLOOD-2", 10, "second case", window.gone)
    window.window.keypad.press(2)
    window.client.wait_for(lambda s: s["ratedSinceStart"] == 2, 10, "second rating", window.gone)
    assert len(window.ratings()) == 2
    log = window.log.read_text(errors="replace").splitlines()[lines_before:]
    assert len(log) <= MAX_LOG_LINES, "\n".join(log)
    assert not any("Traceback" in line or "Too many open files" in line for line in log)
    assert any("connection(s) dropped" in line for line in log)


def test_a_failing_upkeep_is_logged_once_and_tried_again(tmp_path, monkeypatch, caplog):
    """Out of file descriptors while reloading tags and checking health: the loop goes on,
    says so once, and picks the jobs up again when they work."""
    failures = {"left": 0}
    real_load, real_health = tag_catalog.load, HealthCheck.run

    def exhausted(real: Callable[..., Any]) -> Callable[..., Any]:
        def job(*args: Any) -> Any:
            if failures["left"] > 0:
                raise OSError(errno.EMFILE, "Too many open files")
            return real(*args)

        return job

    monkeypatch.setattr(tag_catalog, "load", exhausted(real_load))
    monkeypatch.setattr(HealthCheck, "run", exhausted(real_health))
    with Driver(make_config(tmp_path)) as driver:
        failures["left"] = 3
        for _ in range(3):
            driver.clock.advance(pace.HEALTH_EVERY_S + 1)
            driver.step()
            failures["left"] -= 1
        driver.clock.advance(pace.HEALTH_EVERY_S + 1)
        driver.step()
        driver.evaluator.inbox.sign_in(WANG)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
    said = [r.getMessage() for r in caplog.records if r.name == "device.evaluator.loop"]
    failed = [line for line in said if "failed" in line]
    assert "reloading the tag list failed ([Errno 24] Too many open files)" in failed[0], said
    assert len(failed) == 2, said  # one line per job, not one per try
    assert sum("works again" in line for line in said) == 2
