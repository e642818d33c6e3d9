"""A ledger that cannot take a write, as the evaluator meets it: the real main loop, ledger
file and local API over HTTP. The device is out of service until a real write succeeds;
no press is thanked that was not stored."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from device.ledger.store import Ledger
from device.ledger.verify import verify_ledger
from device.record.rating import Case, Staff
from tests.support.evaluator import Driver, make_config

STAFF = Staff("0421", "王敏")
CASE = Case("HD20261121000101", "11640100MB1234567X3000111222000", "居民身份证换领")
PUSHED = {"projectNo": "HD20261121000199", "taskCode": CASE.task_code, "taskName": "户口迁移"}


def _run(*command: str) -> bool:
    if shutil.which(command[0]) is None:
        return False
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


@contextmanager
def read_only_mount(folder: Path) -> Iterator[None]:
    """*folder* bound onto itself, read-only (as a device whose state partition was remounted
    read-only after errors); writable again by `writable_again`."""
    if not _run("mount", "--bind", str(folder), str(folder)):
        pytest.skip("read-only bind mounts need root and mount(8)")
    try:
        assert _run("mount", "-o", "remount,bind,ro", str(folder))
        yield
    finally:  # SQLite keeps a closed connection's file open while the process holds locks
        assert _run("umount", str(folder)) or _run("umount", "--lazy", str(folder))


def writable_again(folder: Path) -> None:
    assert _run("mount", "-o", "remount,bind,rw", str(folder))


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """`chattr +i` on *paths* (writes through already open files fail as well), undone after."""
    if not _run("chattr", "+i", str(paths[0])):
        pytest.skip("chattr +i needs root and a file system with the immutable flag")
    try:
        for path in paths[1:]:
            assert _run("chattr", "+i", str(path))
        yield
    finally:
        for path in paths:
            _run("chattr", "-i", str(path))


def push_over_http(driver: Driver) -> requests.Response:
    api = driver.config.local_api
    return requests.post(
        f"http://127.0.0.1:{driver.evaluator.api.port}/api/v1/cases",
        json=PUSHED,
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=5,
    )


def rate(driver: Driver, project_no: str, key: int) -> None:
    """Push a case and press keypad key *key* (1 is 非常满意, 2 满意)."""
    case = Case(project_no, CASE.task_code, CASE.task_name)
    assert driver.evaluator.inbox.push_case(case) is None
    driver.until(lambda: driver.status["projectNo"] == project_no, "rating page shown")
    driver.key(key)


def test_a_ledger_on_a_read_only_mount_at_start_is_out_of_service_not_paused(tmp_path):
    """A read-only bind mount of the state folder, the sync keeping the ledger open (so its
    -wal and -shm exist and SQLite opens the file read-only without complaint)."""
    config = make_config(tmp_path)
    state = config.state_dir
    with Driver(config) as first:  # a first day's rating, which must survive
        first.evaluator.inbox.sign_in(STAFF)
        rate(first, "HD20261121000100", 1)
        first.until(lambda: first.phase == "thanks", "thanks")
    sync = Ledger(config.ledger_path)  # opened before the mount: it keeps -wal and -shm
    with read_only_mount(state):
        try:
            with Driver(config) as driver:
                assert driver.phase == "out_of_service"
                assert driver.status["outOfService"] == "oos_ledger"
                refused = push_over_http(driver)
                assert refused.status_code == 503
                assert refused.json()["code"] == "E_OUT_OF_SERVICE"
                driver.key(1)
                for _ in range(3):  # it tries again every health interval, and stays out
                    driver.clock.advance(11)
                    driver.step()
                    assert driver.phase == "out_of_service"
                assert driver.evaluator.inbox.push_case(CASE).startswith("E_OUT_OF_SERVICE")

                writable_again(state)
                driver.clock.advance(11)
                driver.until(lambda: driver.phase != "out_of_service", "back in service")
                driver.evaluator.inbox.sign_in(STAFF)
                driver.until(lambda: driver.phase == "idle", "idle")
                rate(driver, "HD20261121000102", 2)
                driver.until(lambda: driver.phase == "thanks", "thanks")
                assert [r["satisfaction"] for r in driver.ratings()] == [5, 4]
        finally:
            sync.close()
    report = verify_ledger(config.ledger_path)
    assert report.ok and report.rows == 2


def test_an_immutable_ledger_keeps_the_device_out_of_service_until_a_write_succeeds(tmp_path):
    """`chattr +i` on the ledger and its WAL while the evaluator runs: taking the write lock
    still succeeds, committing does not; only the real write tells."""
    config = make_config(tmp_path)
    ledger_path = config.ledger_path
    with Driver(config) as driver:
        driver.evaluator.inbox.sign_in(STAFF)
        rate(driver, "HD20261121000100", 1)
        driver.until(lambda: driver.phase == "thanks", "thanks")
        driver.clock.advance(3.1)
        driver.until(lambda: driver.phase == "idle", "idle")
        wal = ledger_path.with_name("ledger.db-wal")
        with immutable(ledger_path, wal):
            rate(driver, "HD20261121000101", 2)
            driver.until(lambda: driver.phase == "out_of_service", "out of service")
            assert driver.status["outOfService"] == "oos_ledger"
            for _ in range(4):  # before, it was back in service at the next health check
                driver.clock.advance(11)
                driver.step()
                assert driver.phase == "out_of_service"
            refused = push_over_http(driver)
            assert (refused.status_code, refused.json()["code"]) == (503, "E_OUT_OF_SERVICE")
        driver.clock.advance(11)
        driver.until(lambda: driver.phase == "idle", "back in service after the probe")
        rate(driver, "HD20261121000102", 2)
        driver.until(lambda: driver.phase == "thanks", "thanks")
        # every thanked press is stored, the unthanked one is not, nothing else appeared
        assert [(r["projectNo"], r["satisfaction"]) for r in driver.ratings()] == [
            ("HD20261121000100", 5),
            ("HD20261121000102", 4),
        ]
    report = verify_ledger(ledger_path)
    assert report.ok and report.rows == 2
