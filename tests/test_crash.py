"""Power-cut stand-in: a recording process SIGKILLed at random moments loses nothing it
reported as committed, and the chain stays intact."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from device.ledger.verify import verify_ledger
from tests.support import ROOT

KILLS = 50


def _run_and_kill(state: Path, rng: random.Random) -> list[tuple[int, str]]:
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_writer", str(state)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.0, 0.25))  # the kill lands at a random moment: that is the test
    os.kill(writer.pid, signal.SIGKILL)
    output = writer.stdout.read()
    writer.wait(10)
    assert writer.returncode == -signal.SIGKILL
    committed = []
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "committed":  # a torn last line is not a report
            committed.append((int(parts[1]), parts[2]))
    return committed


@pytest.mark.slow
def test_sigkill_never_loses_a_committed_rating(tmp_path):
    DeviceKey.generate().save(tmp_path / "device.key")
    rng = random.Random(os.environ.get("CRASH_SEED", "haochaping"))
    reported: list[tuple[int, str]] = []
    for _ in range(KILLS):
        reported.extend(_run_and_kill(tmp_path, rng))
    assert len(reported) > KILLS  # the kills really landed among commits

    with Ledger(tmp_path / "ledger.db") as ledger:
        held = dict(ledger.conn.execute("SELECT seq, evaluation_id FROM ratings"))
        total = ledger.count()
    missing = [(seq, eid) for seq, eid in reported if held.get(seq) != eid]
    assert missing == []
    report = verify_ledger(tmp_path / "ledger.db")
    assert report.ok, report.first_bad
    assert report.rows == total >= len(reported)
