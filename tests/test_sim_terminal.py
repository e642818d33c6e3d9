"""`haochaping-sim terminal` as a user runs it: the terminal's application comes up, its page
lists services to finish, and everything stops cleanly at the end."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import requests


def test_the_simulated_terminal_serves_its_application_and_stops(tmp_path):
    command = [sys.executable, "-m", "simulator.cli", "terminal", "--no-browser"]
    command += ["--workdir", str(tmp_path), "--duration", "6"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as sim:
        assert sim.stdout is not None
        first = sim.stdout.readline()
        found = re.match(r"terminal application: (http://127\.0\.0\.1:\d+/)", first)
        assert found, first
        started = time.monotonic()
        page = requests.get(found.group(1), timeout=10)
        assert page.status_code == 200 and "办结：社保缴费证明打印" in page.text
        rest = sim.communicate(timeout=60)[0]
    assert sim.returncode == 0 and "terminal stopped" in rest
    assert time.monotonic() - started < 30
    log = (tmp_path / "terminal" / "evaluator.log").read_text()
    assert "display" in log and "web" in log
