"""The walking skeleton end to end: `haochaping-sim demo --headless` as a user runs it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from device.ledger.verify import verify_ledger


@pytest.mark.slow
def test_demo_rates_three_cases_one_later_on_a_phone_and_the_province_accepts_all(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "demo", "--headless", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "demo: 3 rated, 1 rated later on a phone, 4 accepted by province" in lines
    assert sum("-> stored as seq" in line for line in lines) == 3

    shots = sorted(p.name for p in (tmp_path / "window-1" / "screens").glob("*.png"))
    assert any("-rating-HD20261121000101" in name for name in shots), shots
    assert sum("-thanks-" in name for name in shots) == 3
    ledger = tmp_path / "window-1" / "state" / "ledger.db"
    report = verify_ledger(ledger)
    assert report.ok
    assert report.rows == 3
    conn = sqlite3.connect(ledger)
    rows = conn.execute(
        "SELECT json_extract(record, '$.satisfaction'), json_extract(record, '$.source'),"
        " delivery FROM ratings ORDER BY seq"
    ).fetchall()
    conn.close()
    assert rows == [(5, "keypad", "accepted"), (4, "keypad", "accepted"), (3, "keypad", "accepted")]
    province = sqlite3.connect(tmp_path / "province.db")
    assert province.execute("SELECT count(*) FROM evaluations").fetchone()[0] == 4
    (phone,) = province.execute(
        "SELECT json_extract(canonical, '$.source'), satisfaction, project_no FROM evaluations"
        " WHERE device_id IS NULL"
    ).fetchall()
    assert phone == ("qr", 2, "HD20261121000104")
    province.close()
