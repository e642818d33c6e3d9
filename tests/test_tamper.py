"""verify-ledger finds every kind of tampering and names the first bad row."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.ledger.store import Ledger
from device.ledger.verify import verify_ledger
from tests.support.records import FILLED_ROWS as ROWS
from tests.support.records import make_body


def _edit(path, sql, *args):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, args)
    conn.close()


def _cli(path):
    return subprocess.run(
        [sys.executable, "-m", "device", "verify-ledger", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_untouched_ledger_verifies(filled, vault):
    report = verify_ledger(filled, vault)
    assert report.ok and report.rows == ROWS and report.fully_verified == ROWS
    result = _cli(filled)
    assert result.returncode == 0
    assert f"ledger OK: {ROWS} ratings" in result.stdout


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seq=st.integers(1, ROWS),
    position=st.integers(0, 10_000),
    replacement=st.characters(codec="utf-8", exclude_categories=("Cs",)),
)
def test_changing_any_character_of_a_stored_rating_is_reported(
    filled, tmp_path_factory, seq, position, replacement
):
    copy = tmp_path_factory.mktemp("t") / "ledger.db"
    src = sqlite3.connect(filled)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    column = ("record", "record_hash", "seal")[position % 3]
    (text,) = dst.execute(f"SELECT {column} FROM ratings WHERE seq = ?", (seq,)).fetchone()
    i = position % len(text)
    if text[i] == replacement:
        return
    with dst:
        dst.execute(
            f"UPDATE ratings SET {column} = ? WHERE seq = ?",
            (text[:i] + replacement + text[i + 1 :], seq),
        )
    dst.close()
    report = verify_ledger(copy)
    assert not report.ok
    assert report.first_bad is not None and report.first_bad.seq in (seq, seq + 1)


def test_changing_the_level_is_reported_by_the_cli_with_the_row(filled):
    conn = sqlite3.connect(filled)
    (text,) = conn.execute("SELECT record FROM ratings WHERE seq = 4").fetchone()
    conn.close()
    forged = text.replace('"satisfaction":4', '"satisfaction":5')
    assert forged != text
    _edit(filled, "UPDATE ratings SET record = ? WHERE seq = 4", forged)
    result = _cli(filled)
    assert result.returncode == 1
    assert "ledger BAD at seq 4" in result.stderr


def test_deleting_a_row_is_reported(filled):
    _edit(filled, "DELETE FROM ratings WHERE seq = 3")
    report = verify_ledger(filled)
    assert report.first_bad is not None and report.first_bad.seq == 4
    assert "missing" in report.first_bad.problem


def test_reordering_rows_is_reported(filled):
    conn = sqlite3.connect(filled)
    rows = {
        r[0]: r[1:]
        for r in conn.execute(
            "SELECT seq, evaluation_id, project_no, record, record_hash, seal FROM ratings"
            " WHERE seq IN (2, 3)"
        )
    }
    with conn:
        conn.execute("UPDATE ratings SET evaluation_id = evaluation_id || '-x' WHERE seq IN (2, 3)")
        for seq, other in ((2, 3), (3, 2)):
            conn.execute(
                "UPDATE ratings SET evaluation_id = ?, project_no = ?, record = ?,"
                " record_hash = ?, seal = ? WHERE seq = ?",
                (*rows[other], seq),
            )
    conn.close()
    report = verify_ledger(filled)
    assert report.first_bad is not None and report.first_bad.seq == 2


def test_a_rating_signed_by_a_foreign_key_is_reported(filled, ledger_path):
    from device.keys.signing import DeviceKey

    with Ledger(ledger_path) as led:
        led.append(make_body(99), DeviceKey.generate())
    _edit(
        filled,
        "DELETE FROM device_keys WHERE key_id NOT IN"
        " (SELECT json_extract(record, '$.keyId') FROM ratings WHERE seq = 1)",
    )
    report = verify_ledger(filled)
    assert report.first_bad is not None and report.first_bad.seq == ROWS + 1
    assert "unknown key" in report.first_bad.problem


def test_swapped_personal_data_is_reported(filled, vault, key):
    conn = sqlite3.connect(filled)
    (sealed,) = conn.execute("SELECT sealed FROM rater_identities WHERE seq = 3").fetchone()
    forged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with conn:
        conn.execute("UPDATE rater_identities SET sealed = ? WHERE seq = 3", (forged,))
    conn.close()
    report = verify_ledger(filled, vault)
    assert report.first_bad is not None and report.first_bad.seq == 3


def test_a_file_that_is_not_a_ledger_is_reported(tmp_path):
    bogus = tmp_path / "ledger.db"
    bogus.write_bytes(b"not a database at all" * 100)
    result = _cli(bogus)
    assert result.returncode == 1
    assert "unreadable" in result.stderr
