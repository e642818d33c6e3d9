"""Case events through the real parts: the evaluator and its local API over HTTP, the SQLite
ledger, the sync's sender and the stand-in province on 127.0.0.1.

The staff member's suppression of a bad rating (cancel, replace, sign out during the reasons
page, then re-push and press a good level) must fail: the re-push is refused with 409, the bad
press reaches the province as an event with `levelPressed` 1, and a rating that gets through
another path is flagged there.
"""

from __future__ import annotations

import dataclasses
import http.server
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from device.ledger.verify import verify_ledger
from sync.event_delivery import EventOutbox, EventRounds, ProvinceEventAdapter
from sync.province_client import ProvinceClient, RetryableError
from sync.sender import Sender
from sync.status import render_text, sync_status
from tests.support.evaluator import Driver, make_config
from tests.support.polling import wait_until
from tests.support.sync import Device

TOKEN = "token-for-tests-0123456789"
CASE_NO = "HD20261121000007"  # make_body(7) rates this case
OTHER_NO = "HD20261121000099"


def case_json(project_no: str = CASE_NO) -> dict[str, Any]:
    return {
        "projectNo": project_no,
        "taskCode": "11640100MB1234567X3000111222000",
        "taskName": "居民身份证换领",
    }


def evaluator_config(tmp_path, device: Device) -> Any:
    """The evaluator's configuration for a device provisioned at the stand-in."""
    config = make_config(tmp_path / "ev", key=False)
    return dataclasses.replace(
        config,
        device=dataclasses.replace(config.device, state_dir=device.config.device.state_dir),
        province=device.config.province,
        site=device.config.site,
    )


@pytest.fixture
def hall(tmp_path, province) -> Iterator[tuple[Device, Driver]]:
    """A device provisioned at the stand-in, its evaluator running headless with 王敏 in."""
    device = Device(tmp_path / "dev", province)
    config = evaluator_config(tmp_path, device)
    with Driver(config) as driver:
        api(driver, "POST", "/staff/sign-in", {"proManagerNo": "0421", "proManager": "王敏"})
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        yield device, driver
    device.close()


def api(driver: Driver, method: str, path: str, body: Any = None) -> requests.Response:
    assert driver.evaluator.api is not None
    return requests.request(
        method,
        f"http://127.0.0.1:{driver.evaluator.api.port}/api/v1{path}",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )


def show(driver: Driver, project_no: str = CASE_NO) -> None:
    answer = api(driver, "POST", "/cases", case_json(project_no))
    assert answer.status_code == 202, answer.text
    driver.until(
        lambda: driver.phase == "rating" and driver.status["projectNo"] == project_no,
        "rating page shown",
    )


def deliver_events(device: Device) -> EventRounds:
    province = device.config.province
    client = ProvinceClient(province.base_url, province.device_id, device.key)
    sender = Sender(
        device.ledger,
        ProvinceEventAdapter(client),
        None,
        overlap=False,
        outbox=EventOutbox(device.ledger),
    )
    rounds = EventRounds(device.ledger, sender)
    while rounds.send_round().sent:
        pass
    rounds.close()
    return rounds


def stored_at_province(province: Any, device: Device) -> list[dict[str, Any]]:
    import json

    return [json.loads(t) for t in province.server.events.events(device.config.province.device_id)]


def deliver_rating(device: Device, n: int) -> None:
    device.record(n)
    adapter = device.adapter()
    Sender(device.ledger, adapter, device.vault, overlap=False).send_round()
    adapter.close()


def bad_press_then(driver: Driver, how: str) -> None:
    show(driver)
    driver.key(5)  # 非常不满意
    driver.until(lambda: driver.phase == "reasons", "reasons page")
    if how == "cancelled":
        assert api(driver, "DELETE", f"/cases/{CASE_NO}").status_code == 200
        driver.until(lambda: driver.phase == "idle", "cancelled")
    elif how == "replaced":
        show(driver, OTHER_NO)
    else:
        assert api(driver, "POST", "/staff/sign-out").status_code == 200
        driver.until(lambda: driver.phase == "paused", "signed out")
        api(driver, "POST", "/staff/sign-in", {"proManagerNo": "0421", "proManager": "王敏"})
        driver.until(lambda: driver.phase == "idle", "signed in again")


@pytest.mark.parametrize("how", ["cancelled", "replaced", "staff_signed_out"])
def test_a_bad_press_cannot_be_suppressed(hall, province, how):
    device, driver = hall
    bad_press_then(driver, how)

    again = api(driver, "POST", "/cases", case_json())
    assert again.status_code == 409
    assert again.json()["code"] == "E_ALREADY_RATED"
    driver.key(1)  # someone presses 非常满意: nothing of CASE_NO is on screen to rate
    driver.step()
    assert all(r["projectNo"] != CASE_NO for r in driver.ratings())

    (event, *_) = driver.outcomes()
    assert (event["kind"], event["levelPressed"], event["projectNo"]) == (how, 1, CASE_NO)
    deliver_events(device)
    (at_province, *_) = stored_at_province(province, device)
    assert (at_province["kind"], at_province["levelPressed"]) == (how, 1)
    assert device.ledger.events.delivery_of(event["eventId"])[0] == "accepted"

    # a rating of the same case that gets in by another path is flagged for review
    deliver_rating(device, 7)
    (flag,) = province.server.events.suppressions(device.config.province.device_id)
    assert (flag["projectNo"], flag["kind"], flag["levelPressed"]) == (CASE_NO, how, 1)


def test_a_restart_on_the_reasons_page_cannot_make_the_bad_press_vanish(tmp_path, province):
    """The staff member restarts the box (or pulls the plug) while the rater chooses
    reasons, then re-pushes the case and presses 非常满意."""
    device = Device(tmp_path / "dev", province)
    config = evaluator_config(tmp_path, device)
    with Driver(config) as driver:
        api(driver, "POST", "/staff/sign-in", {"proManagerNo": "0421", "proManager": "王敏"})
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        show(driver)
        driver.key(5)  # 非常不满意
        driver.until(lambda: driver.phase == "reasons", "reasons page")
        # on disk already, before anything ends the case: a power cut now loses nothing
        held = sqlite3.connect(config.ledger_path).execute(
            "SELECT project_no, json_extract(event, '$.levelPressed') FROM pending_bad_presses"
        )
        assert held.fetchall() == [(CASE_NO, 1)]
    with Driver(config) as again:  # the next start
        api(again, "POST", "/staff/sign-in", {"proManagerNo": "0421", "proManager": "王敏"})
        again.until(lambda: again.phase == "idle", "staff signed in")
        refused = api(again, "POST", "/cases", case_json())
        assert (refused.status_code, refused.json()["code"]) == (409, "E_ALREADY_RATED")
        (event,) = again.outcomes()
        assert (event["kind"], event["levelPressed"], event["projectNo"]) == (
            "out_of_service",
            1,
            CASE_NO,
        )
        assert again.ratings() == []
    deliver_events(device)
    (at_province,) = province.server.events.events(device.config.province.device_id)
    assert '"kind":"out_of_service"' in at_province and '"levelPressed":1' in at_province
    device.close()


def follow_up(project_no: str = CASE_NO, **more: Any) -> dict[str, Any]:
    return {**case_json(project_no), "assessNumber": 2, **more}


@pytest.mark.parametrize("how", ["cancelled", "replaced", "staff_signed_out"])
def test_a_bad_press_cannot_be_hidden_by_a_follow_up(hall, how):
    _, driver = hall
    bad_press_then(driver, how)

    refused = api(driver, "POST", "/cases", follow_up())
    assert (refused.status_code, refused.json()["code"]) == (409, "E_NOT_RATED_YET")
    assert "assessNumber" in refused.json()["message"]
    driver.key(1)  # 非常满意 pressed: nothing of CASE_NO is on screen to rate
    driver.step()
    assert all(r["projectNo"] != CASE_NO for r in driver.ratings())
    (event, *_) = driver.outcomes()
    assert (event["kind"], event["levelPressed"], event["assessNumber"]) == (how, 1, 1)
    # the first push stays refused as before
    again = api(driver, "POST", "/cases", case_json())
    assert (again.status_code, again.json()["code"]) == (409, "E_ALREADY_RATED")


def test_a_follow_up_of_a_batch_case_with_a_bad_press_is_refused(hall):
    _, driver = hall
    batch = [CASE_NO, OTHER_NO]
    body = {**case_json(), "batchProjectNos": batch}
    assert api(driver, "POST", "/cases", body).status_code == 202
    driver.until(lambda: driver.phase == "rating", "rating page shown")
    driver.key(4)  # 不满意, level 2
    driver.until(lambda: driver.phase == "reasons", "reasons page")
    assert api(driver, "DELETE", f"/cases/{CASE_NO}").status_code == 200
    driver.until(lambda: driver.phase == "idle", "cancelled")
    for number in batch:  # alone, or as a batch of its own with an unrated case
        alone = api(driver, "POST", "/cases", follow_up(number))
        assert (alone.status_code, alone.json()["code"]) == (409, "E_NOT_RATED_YET")
    mixed = follow_up("HD20261121000123", batchProjectNos=["HD20261121000123", OTHER_NO])
    refused = api(driver, "POST", "/cases", mixed)
    assert (refused.status_code, refused.json()["code"]) == (409, "E_NOT_RATED_YET")
    assert driver.ratings() == []


def test_a_follow_up_while_the_first_rating_is_on_screen_is_refused(hall):
    _, driver = hall
    show(driver)
    driver.key(5)  # 非常不满意, the reasons page is up and nothing is stored yet
    driver.until(lambda: driver.phase == "reasons", "reasons page")
    refused = api(driver, "POST", "/cases", follow_up())
    assert (refused.status_code, refused.json()["code"]) == (409, "E_ON_SCREEN")
    assert (driver.phase, driver.status["projectNo"]) == ("reasons", CASE_NO)
    assert api(driver, "DELETE", f"/cases/{CASE_NO}").status_code == 200
    driver.until(lambda: driver.phase == "idle", "cancelled")
    refused = api(driver, "POST", "/cases", follow_up())
    assert (refused.status_code, refused.json()["code"]) == (409, "E_NOT_RATED_YET")
    assert driver.ratings() == []


def test_a_genuine_follow_up_of_a_case_rated_here_is_taken(hall):
    _, driver = hall
    show(driver)
    driver.key(2)  # 满意, stored with assessNumber 1
    driver.until(lambda: driver.phase == "thanks", "stored and thanked")
    driver.clock.advance(30)
    driver.until(lambda: driver.phase == "idle", "thanks page over")
    taken = api(driver, "POST", "/cases", follow_up())
    assert taken.status_code == 202, taken.text
    driver.until(lambda: driver.phase == "rating", "follow-up on screen")
    driver.key(1)  # 非常满意
    driver.until(lambda: driver.phase == "thanks", "follow-up stored")
    stored = [(r["projectNo"], r["assessNumber"]) for r in driver.ratings()]
    assert stored == [(CASE_NO, 1), (CASE_NO, 2)]
    second = api(driver, "POST", "/cases", follow_up())
    assert (second.status_code, second.json()["code"]) == (409, "E_ALREADY_RATED")


def test_a_follow_up_of_a_case_rated_in_a_batch_is_taken(hall):
    _, driver = hall
    batch = {**case_json(), "batchProjectNos": [CASE_NO, OTHER_NO]}
    assert api(driver, "POST", "/cases", batch).status_code == 202
    driver.until(lambda: driver.phase == "rating", "batch on screen")
    driver.key(1)  # 非常满意, one rating for both cases
    driver.until(lambda: driver.phase == "thanks", "stored and thanked")
    driver.clock.advance(30)
    driver.until(lambda: driver.phase == "idle", "thanks page over")
    taken = api(driver, "POST", "/cases", follow_up(OTHER_NO))
    assert taken.status_code == 202, taken.text


def test_re_pushing_the_case_on_screen_is_refused(hall):
    _, driver = hall
    show(driver)
    again = api(driver, "POST", "/cases", case_json())
    assert again.status_code == 409 and again.json()["code"] == "E_ON_SCREEN"


def test_no_rate_later_code_for_a_case_already_rated_here(hall):
    _, driver = hall
    show(driver)
    assert api(driver, "GET", f"/cases/{CASE_NO}/rate-later").status_code == 200
    driver.key(2)  # 满意, stored
    driver.until(lambda: driver.phase == "thanks", "stored and thanked")
    refused = api(driver, "GET", f"/cases/{CASE_NO}/rate-later")
    assert (refused.status_code, refused.json()["code"]) == (409, "E_ALREADY_RATED")
    assert api(driver, "GET", f"/cases/{CASE_NO}/rate-later.png").status_code == 409


def test_the_flag_does_not_depend_on_which_arrives_first(hall, province):
    device, driver = hall
    bad_press_then(driver, "cancelled")
    deliver_rating(device, 7)  # the rating first, the event after
    assert province.server.events.suppressions() == []
    deliver_events(device)
    assert len(province.server.events.suppressions()) == 1


def test_a_timeout_reaches_the_province_as_not_rated(hall, province):
    device, driver = hall
    show(driver)
    driver.clock.advance(30.5)
    driver.until(lambda: driver.phase == "rate_later", "rate-later page")
    deliver_events(device)
    (event,) = stored_at_province(province, device)
    assert (event["kind"], event["levelPressed"], event["rateLater"]) == ("not_rated", None, True)
    assert event["eventSeq"] == 1 and event["prevHash"] == "0" * 64
    # not rated is no bad press: the case may be pushed again
    assert api(driver, "POST", "/cases", case_json()).status_code == 202


def test_a_tampered_event_fails_verify_ledger(hall):
    device, driver = hall
    for _ in range(3):
        show(driver)
        api(driver, "DELETE", f"/cases/{CASE_NO}")
        driver.until(lambda: driver.phase == "idle", "cancelled")
    assert verify_ledger(device.config.ledger_path).ok
    conn = sqlite3.connect(device.config.ledger_path)
    conn.execute(
        "UPDATE case_events SET event = replace(event, '\"levelPressed\":null',"
        " '\"levelPressed\":5') WHERE event_seq = 2"
    )
    conn.commit()
    conn.close()
    report = verify_ledger(device.config.ledger_path)
    problems = [f.problem for f in report.findings]
    assert report.events == 3
    assert any(p.startswith("case event 2:") for p in problems), problems


def test_an_outage_delays_events_but_never_loses_or_duplicates_them(hall, province):
    device, driver = hall
    for n in range(4):
        show(driver, f"HD2026112100{n + 50:04d}")
    api(driver, "DELETE", "/cases/HD20261121000053")
    driver.until(lambda: driver.phase == "idle", "cancelled")
    province.server.faults.set("down")
    province_cfg = device.config.province
    client = ProvinceClient(province_cfg.base_url, province_cfg.device_id, device.key)
    outbox = EventOutbox(device.ledger)
    sender = Sender(device.ledger, ProvinceEventAdapter(client), None, overlap=False, outbox=outbox)
    with pytest.raises(RetryableError):
        sender.send_round()
    assert device.ledger.events.backlog() == 4
    province.server.faults.clear()
    sender.send_round()
    sender.send_round()
    assert device.ledger.events.backlog() == 0
    seqs = [e["eventSeq"] for e in stored_at_province(province, device)]
    assert seqs == [1, 2, 3, 4]


class _VersionOne(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b'{"code": "E_NOT_FOUND", "message": "no such endpoint"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_version_1_province_keeps_events_on_the_device_and_status_says_so(hall):
    device, driver = hall
    show(driver)
    api(driver, "DELETE", f"/cases/{CASE_NO}")
    driver.until(lambda: driver.phase == "idle", "cancelled")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _VersionOne)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = ProvinceClient(
            f"http://127.0.0.1:{server.server_address[1]}/api/v1",
            device.config.province.device_id,
            device.key,
        )
        sender = Sender(
            device.ledger,
            ProvinceEventAdapter(client),
            None,
            overlap=False,
            outbox=EventOutbox(device.ledger),
        )
        rounds = EventRounds(device.ledger, sender)
        for _ in range(3):  # no error loop: nothing sent, nothing raised
            assert rounds.send_round().sent == 0
        assert rounds.backlog() == 0
        wait_until(lambda: rounds.endpoint_missing, "endpoint marked missing")
    finally:
        server.shutdown()
        server.server_close()
    figures = sync_status(device.ledger, datetime.now(UTC))
    assert figures["eventBacklog"] == 1
    assert figures["eventsEndpoint"].startswith("missing")
    assert "case events:    1 unsent" in render_text(figures)
