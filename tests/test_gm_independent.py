"""A device provisioned with `gm-enroll` against a 国密 province written from the interface
document alone (tests/support/independent_gm_province.py, SM2 by OpenSSL): every rating made
at the window arrives exactly once, signed and sealed as the document says, also through a
lost answer, a SIGKILLed sync, a province a day ahead, expired tokens and a wrong key."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device.daemon.config import Config, load
from device.evaluator.app import site_of
from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from device.record.rating import Case, Level, Press, Staff, record_body
from device.record.tag_catalog import shipped_default
from tests.support import ROOT
from tests.support.evaluator import Driver, FakeClock
from tests.support.independent_gm_crypto import Sm2Key
from tests.support.independent_gm_province import IndependentGmProvince
from tests.support.polling import wait_until

DEVICE_NO = "GM-640104-0007"
STAFF = Staff("0421", "王敏")
TASK = ("11640100MB1234567X3000111222000", "居民身份证换领")
EVALUATE_TYPE = {"touch": "1", "keypad": "2"}


@pytest.fixture
def gm_province(tmp_path: Path) -> Iterator[IndependentGmProvince]:
    province = IndependentGmProvince(tmp_path)
    province.serve()
    yield province
    province.close()


def _run(module: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def gm_enroll(tmp_path: Path, province: IndependentGmProvince, *where: str) -> Path:
    """The technician's `gm-enroll`, typing the appSecret when asked; the configuration path."""
    config = tmp_path / "device.toml"
    done = _run(
        "provisioning.cli", "gm-enroll", "--config", str(config),
        "--state-dir", str(tmp_path / "state"), "--adapter", "gm-soap",
        "--gateway-url", province.url, "--base-url", province.url,
        "--app-key", province.app_key, "--province-key", province.key.public_hex,
        "--device-no", DEVICE_NO, "--area-code", "640104",
        "--dept-code", "11640100MB1234567X", "--hall-code", "YC-HALL-01",
        *(where or ("--window-no", "12")), "--local-api-port", "0",
        stdin=province.app_secret + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert province.app_secret not in done.stdout + done.stderr
    return config


def sync_once(config: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return _run("sync", "once", "--config", str(config), "--timeout", str(timeout))


def window(config_path: Path) -> Driver:
    config: Config = load(config_path)
    display = dataclasses.replace(config.display, width=800, height=480, fullscreen=False)
    return Driver(dataclasses.replace(config, display=display), FakeClock())


def rate(driver: Driver, case: Case, level: Level, *, by_key: bool = False) -> None:
    """A citizen rates `case` on the window; a bad level with the first reason offered."""
    assert driver.evaluator.inbox.push_case(case) is None
    driver.until(lambda: driver.status.get("projectNo") == case.project_no, "rating page")
    driver.clock.advance(1.5)
    if by_key:
        driver.key(6 - int(level))  # key 1 is 非常满意 … key 5 非常不满意
    else:
        driver.tap_level(level)
    if level <= Level.DISSATISFIED:
        driver.until(lambda: driver.phase == "reasons", "reasons page")
        layout = driver.evaluator.screen.layout
        driver.tap_rect(layout.tags(len(shipped_default().for_level(int(level))), 0)[0])
        driver.tap_rect(layout.submit_button)
    driver.until(lambda: driver.phase == "thanks", "thanks page")
    driver.clock.advance(3.5)
    driver.until(lambda: driver.phase == "idle", "idle again")


def case(n: int, **kwargs: object) -> Case:
    return Case(f"HD2026120100{n:04d}", *TASK, **kwargs)  # type: ignore[arg-type]


def at(driver: Driver, when: datetime) -> None:
    """Set the window's wall clock to `when` (UTC)."""
    driver.clock.wall0 = when - timedelta(seconds=driver.clock.t - 1000.0)


def assert_each_stored_once(province: IndependentGmProvince, records: list[dict]) -> None:
    assert province.rejections == []
    assert_each_stored_once_but(province, records, None)


def assert_each_stored_once_but(
    province: IndependentGmProvince, records: list[dict], rejected: str | None
) -> None:
    """Every rating but `rejected` stored and accepted exactly once, as the device made it."""
    ids = [r["evaluationId"] for r in records if r["evaluationId"] != rejected]
    accepted = Counter(d.evaluate_id for d in province.deliveries if d.status == "accepted")
    assert set(province.stored) == set(ids)
    assert all(accepted[i] == 1 for i in ids), accepted
    assert {e for e, _, _ in province.rejections} <= {rejected}
    for record in records:
        if record["evaluationId"] == rejected:
            continue
        stored = province.stored[record["evaluationId"]].children
        assert stored["EVALUATELEVEL"] == str(6 - record["satisfaction"])
        assert stored["EVALUATETYPE"] == EVALUATE_TYPE[record["source"]]
        assert stored["SERIALNO"] == str(record["seq"])


def verify_ledger(config: Path, province: IndependentGmProvince) -> subprocess.CompletedProcess:
    ledger = load(config).ledger_path
    return _run(
        "device", "verify-ledger", str(ledger), "--province-sm2-key", province.key.public_hex
    )


def test_ratings_made_at_the_window_reach_an_independent_province_once(tmp_path, gm_province):
    config_path = gm_enroll(tmp_path, gm_province)
    (registered,) = gm_province.devices.values()
    state = tmp_path / "state"
    key_files = [p for p in state.iterdir() if p.name in ("gm-sm2.key", "device.key")]
    assert len(key_files) == 2
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in key_files)
    assert registered.public_key != gm_province.key.public_hex
    assert registered.site["windowNo"] == "12" and registered.site["terminalNo"] == ""

    checked = _run("provisioning.cli", "check", "--config", str(config_path))
    assert gm_province.heartbeats, checked.stdout + checked.stderr
    assert gm_province.heartbeats[-1]["deviceNo"] == DEVICE_NO
    assert any(
        line.startswith("PASS") and "province" in line for line in checked.stdout.splitlines()
    ), checked.stdout
    shown = _run("provisioning.cli", "show", "--config", str(config_path))
    assert shown.returncode == 0 and "********" in shown.stdout, shown.stdout + shown.stderr
    assert gm_province.app_secret not in shown.stdout + shown.stderr

    now = datetime.now(UTC)
    with window(config_path) as driver:
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        at(driver, now - timedelta(days=3))  # rated three days ago, sent only now: 补报
        rate(driver, case(1), Level.SATISFIED, by_key=True)
        rate(driver, case(2), Level.VERY_DISSATISFIED)
        at(driver, now - timedelta(minutes=5))
        rate(driver, case(3), Level.VERY_SATISFIED)
        rate(driver, case(4), Level.BASICALLY_SATISFIED, by_key=True)
        rate(driver, case(5), Level.DISSATISFIED, by_key=True)
        batch = ("HD20261201009001", "HD20261201009002", "HD20261201009003")
        rate(driver, case(9001, batch_project_nos=batch), Level.SATISFIED)
        rate(driver, case(6, identity={"userName": "李建国"}), Level.VERY_SATISFIED)
        records = driver.ratings()
    assert len(records) == 7

    done = sync_once(config_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert gm_province.refusals == []
    assert_each_stored_once(gm_province, records)
    by_id = {d.evaluate_id: d.operation for d in gm_province.deliveries}
    assert [by_id[r["evaluationId"]] for r in records] == (
        ["supplementEvaluation"] * 2 + ["saveEvaluation"] * 5
    )
    stored = gm_province.stored
    assert stored[records[5]["evaluationId"]].children["BATCHPROJECTNOS"] == ",".join(batch)
    assert stored[records[6]["evaluationId"]].children["USERNAME"] == "李建国"
    assert stored[records[1]["evaluationId"]].children["EVALUATEDETAIL"]  # 非常不满意: a reason

    calls = len(gm_province.calls)
    again = sync_once(config_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not {"saveEvaluation", "supplementEvaluation"} & set(gm_province.calls[calls:])
    proof = verify_ledger(config_path, gm_province)
    assert proof.returncode == 0, proof.stdout + proof.stderr


def test_a_lost_answer_and_a_killed_sync_lose_and_double_nothing(tmp_path, gm_province):
    config_path = gm_enroll(tmp_path, gm_province)
    with window(config_path) as driver:
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        at(driver, datetime.now(UTC))
        for n in range(6):
            rate(driver, case(100 + n), Level(5 - n % 3), by_key=n % 2 == 0)
        first = driver.ratings()

        gm_province.drop_answers = 1  # stored, then the connection drops before the answer
        lost = sync_once(config_path)
        retried = sync_once(config_path) if lost.returncode else lost
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert_each_stored_once(gm_province, first)
        duplicates = [d.evaluate_id for d in gm_province.deliveries if d.status == "duplicate"]
        assert sorted(duplicates) == sorted(r["evaluationId"] for r in first)

        for n in range(6, 12):
            rate(driver, case(100 + n), Level.VERY_SATISFIED)
        records = driver.ratings()

    gm_province.hold_answer.set()  # stored, answer held back while the sync is killed
    sync = subprocess.Popen(
        [sys.executable, "-m", "sync", "run", "--config", str(config_path)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(gm_province.answer_held.is_set, "a round stored at the province", timeout=30)
        os.kill(sync.pid, signal.SIGKILL)
        sync.wait(timeout=10)
    finally:
        gm_province.hold_answer.clear()
        if sync.poll() is None:
            sync.kill()
            sync.wait()
    done = sync_once(config_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_stored_once(gm_province, records)
    proof = verify_ledger(config_path, gm_province)
    assert proof.returncode == 0, proof.stdout + proof.stderr


def test_a_province_a_day_ahead_expired_tokens_and_a_wrong_key(tmp_path, gm_province):
    config_path = gm_enroll(tmp_path, gm_province)
    with window(config_path) as driver:
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        at(driver, datetime.now(UTC))
        rate(driver, case(200), Level.SATISFIED)
        rate(driver, case(201), Level.VERY_SATISFIED, by_key=True)
        early = driver.ratings()

        gm_province.clock_ahead_s = 25 * 3600  # a day ahead: every rating is 补报 to it
        gm_province.expire_tokens()
        done = sync_once(config_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_each_stored_once(gm_province, early)
        assert {d.operation for d in gm_province.deliveries} == {"supplementEvaluation"}
        assert 40101 in {code for _, code, _ in gm_province.refusals}  # learnt the offset

        gm_province.clock_ahead_s = 0
        gm_province.expire_tokens()
        rate(driver, case(202), Level.BASICALLY_SATISFIED)
        good_key = gm_province.key
        (tmp_path / "other").mkdir()
        gm_province.key = Sm2Key(tmp_path / "other")  # answers signed by a key not pinned
        signed_by_another = sync_once(config_path, timeout=1)
        # stored at the province, but its answer proves nothing: not delivered
        assert signed_by_another.returncode != 0
        records = driver.ratings()
    late = records[-1]["evaluationId"]
    assert late in gm_province.stored
    gm_province.key = good_key
    done = sync_once(config_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_stored_once(gm_province, records)
    assert any(d.evaluate_id == late and d.status == "duplicate" for d in gm_province.deliveries)
    proof = verify_ledger(config_path, gm_province)
    assert proof.returncode == 0, proof.stdout + proof.stderr


def test_a_rating_just_past_24_h_a_big_backlog_and_a_token_expiring_mid_round(
    tmp_path, gm_province
):
    """The province's clock 200 s ahead (no clock error for the device to learn from), a
    backlog of 150 long-texted ratings, one of which is over 24 h old by the province's clock
    only, and the token expiring after the first stored call: 补报, 40102 and batching."""
    config_path = gm_enroll(tmp_path, gm_province)
    config = load(config_path)
    now = datetime.now(UTC)
    edge = now - timedelta(hours=24) + timedelta(seconds=100)
    text = "窗口工作人员态度很好" * 50  # 500 characters, the longest free text allowed
    with Ledger(config.ledger_path) as ledger:
        key = DeviceKey.load(config.key_path)
        vault = IdentityVault.load(config.identity_key_path)
        for n in range(150):
            when = edge if n == 60 else now - timedelta(minutes=1)
            press = Press(Level.VERY_SATISFIED, "keypad", 900 + n, when, True, writing=text)
            body = record_body(str(uuid.uuid4()), case(300 + n), site_of(config), press)
            ledger.append(body, key, vault)
    gm_province.clock_ahead_s = 200
    gm_province.expire_tokens_after_stores = 1
    gm_province.clock_jump_after_store = 0.0
    done = sync_once(config_path)
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(config.ledger_path) as conn:
        rows = conn.execute("SELECT record FROM ratings ORDER BY seq").fetchall()
    records = [json.loads(row[0]) for row in rows]
    assert_each_stored_once(gm_province, records)
    codes = Counter(code for _, code, _ in gm_province.refusals)
    assert codes == {40102: 1}, gm_province.refusals  # a new token, the call repeated once
    operations = {d.evaluate_id: d.operation for d in gm_province.deliveries}
    assert operations[records[60]["evaluationId"]] == "supplementEvaluation"
    ledger_bytes = "\n".join(sqlite3.connect(config.ledger_path).iterdump())
    assert all(s.unid in ledger_bytes for s in gm_province.stored.values())  # receipts kept


def test_a_self_service_terminal_registers_its_number_and_its_ratings_arrive(tmp_path, gm_province):
    config_path = gm_enroll(tmp_path, gm_province, "--terminal-no", "ZZ-0031")
    (registered,) = gm_province.devices.values()
    assert (registered.site["terminalNo"], registered.site["windowNo"]) == ("ZZ-0031", "")
    # Another box given the same device number: the province refuses its keys (40103), and
    # the box is left as it was before (no configuration, no keys).
    other = tmp_path / "other"
    again = _run(
        "provisioning.cli", "gm-enroll", "--config", str(other / "device.toml"),
        "--state-dir", str(other / "state"), "--gateway-url", gm_province.url,
        "--base-url", gm_province.url, "--app-key", gm_province.app_key,
        "--province-key", gm_province.key.public_hex, "--device-no", DEVICE_NO,
        "--area-code", "640104", "--dept-code", "11640100MB1234567X", "--terminal-no", "ZZ-0032",
        "--local-api-port", "0",
        stdin=gm_province.app_secret + "\n",
    )  # fmt: skip
    assert again.returncode != 0 and "40103" in again.stderr, again.stdout + again.stderr
    assert [code for _, code, _ in gm_province.refusals] == [40103]
    assert not (other / "device.toml").exists()
    assert not [p for p in other.rglob("*") if p.is_file()]
    assert gm_province.devices[DEVICE_NO].public_key == registered.public_key
    with window(config_path) as driver:  # a terminal needs no staff signed in
        at(driver, datetime.now(UTC))
        rate(driver, case(400), Level.VERY_SATISFIED)
        records = driver.ratings()
    assert sync_once(config_path).returncode == 0
    assert_each_stored_once(gm_province, records)
    assert gm_province.stored[records[0]["evaluationId"]].children["TERMINALNO"] == "ZZ-0031"


def test_busy_refusals_a_transport_error_and_a_42202_are_retried_as_the_document_says(
    tmp_path, gm_province
):
    """42901 and 50301 wait their retryAfter; HTTP 500 is retried; a saveEvaluation refused
    with 42202 goes again through supplementEvaluation with a new nonce (no 40104)."""
    config_path = gm_enroll(tmp_path, gm_province)
    with window(config_path) as driver:
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        at(driver, datetime.now(UTC))
        rate(driver, case(500), Level.SATISFIED)
        rate(driver, case(501), Level.VERY_SATISFIED, by_key=True)
        records = driver.ratings()
    gm_province.busy = [(42901, 1), (50301, 1)]
    gm_province.faults_500 = 1
    gm_province.call_late_once = True
    done = sync_once(config_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_stored_once(gm_province, records)
    answered = [(op, t, code) for op, t, code in gm_province.answered if op != "registerDevice"]
    codes = [code for _, _, code in answered]
    assert codes == [500, 42901, 50301, 42202, 0], answered
    assert answered[2][1] - answered[1][1] >= 1.0  # waited the second it was told
    assert answered[3][1] - answered[2][1] >= 1.0
    assert [op for op, _, _ in answered[3:]] == ["saveEvaluation", "supplementEvaluation"]
    assert {d.operation for d in gm_province.deliveries} == {"supplementEvaluation"}


def test_signed_answers_that_prove_nothing_deliver_nothing_and_crash_nothing(tmp_path, gm_province):
    """Answers the document makes invalid after the province stored the ratings: an entity
    bomb in the (correctly sealed and signed) payload, one in the envelope, and a signed
    `<results>` repeating its first result for every rating. None marks anything delivered
    (the first rating is sent again too), the sync exits cleanly, and once the province
    answers properly every rating is acknowledged, exactly once."""
    config_path = gm_enroll(tmp_path, gm_province)
    with window(config_path) as driver:
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        at(driver, datetime.now(UTC))
        for n in range(3):
            rate(driver, case(600 + n), Level.VERY_SATISFIED)
        records = driver.ratings()
    for fault in ("bomb_payloads", "bomb_envelopes", "echo_first_result"):
        setattr(gm_province, fault, 100)
        calls = len(gm_province.calls)
        refused = sync_once(config_path, timeout=1)
        assert len(gm_province.calls) > calls  # the faulty answer was met, not just a timeout
        assert refused.returncode != 0, (fault, refused.stdout + refused.stderr)
        assert "Traceback" not in refused.stderr, refused.stderr
        setattr(gm_province, fault, 0)
    assert {d.status for d in gm_province.deliveries[3:]} == {"duplicate"}
    before = len(gm_province.deliveries)
    done = sync_once(config_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_stored_once(gm_province, records)
    final = [(d.evaluate_id, d.status) for d in gm_province.deliveries[before:]]
    assert final == [(r["evaluationId"], "duplicate") for r in records]
    proof = verify_ledger(config_path, gm_province)
    assert proof.returncode == 0, proof.stdout + proof.stderr


def backlog_of(config: Config, n: int, first: int, when: datetime) -> None:
    """`n` ratings assessed at `when`, recorded as the evaluator's recorder does."""
    with Ledger(config.ledger_path) as ledger:
        key = DeviceKey.load(config.key_path)
        vault = IdentityVault.load(config.identity_key_path)
        for i in range(n):
            press = Press(Level.SATISFIED, "touch", 700 + i, when, True)
            body = record_body(str(uuid.uuid4()), case(first + i), site_of(config), press)
            ledger.append(body, key, vault)


def test_a_province_clock_jumping_a_day_mid_round_is_learnt_from_the_call(tmp_path, gm_province):
    """After the first stored call the province's clock jumps a day ahead: the next call is
    refused 40101 with serverTime, and its ratings, now 补报 by that clock, go through
    supplementEvaluation; an E_ALREADY_RATED rating is quarantined, never resent."""
    config_path = gm_enroll(tmp_path, gm_province)
    config = load(config_path)
    backlog_of(config, 130, 800, datetime.now(UTC) - timedelta(minutes=2))
    with sqlite3.connect(config.ledger_path) as conn:
        rows = conn.execute("SELECT record FROM ratings ORDER BY seq").fetchall()
    records = [json.loads(row[0]) for row in rows]
    taken = records[120]  # its case was rated on another device already
    gm_province.rated[(taken["projectNo"], "1")] = "rated-elsewhere"
    gm_province.clock_jump_after_store = 25 * 3600
    done = sync_once(config_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_stored_once_but(gm_province, records, taken["evaluationId"])
    assert [code for op, code, _ in gm_province.refusals] == [40101]
    operations = Counter(d.operation for d in gm_province.deliveries)
    assert operations == {"saveEvaluation": 100, "supplementEvaluation": 29}, operations
    quarantine = _run("sync", "quarantine", "list", "--config", str(config_path))
    assert taken["evaluationId"] in quarantine.stdout and "E_ALREADY_RATED" in quarantine.stdout
    calls = len(gm_province.calls)
    assert sync_once(config_path).returncode == 0
    assert not {"saveEvaluation", "supplementEvaluation"} & set(gm_province.calls[calls:])
