"""The evaluator as a citizen, a member of staff and a technician meet it: the real main loop,
screen and ledger, driven by touches, keys and pushes, headless."""

from __future__ import annotations

import dataclasses
import json

from device.ledger.verify import verify_ledger
from device.record.rating import Case, Level, Staff, Theme, ThemeItem
from device.record.tag_catalog import shipped_default
from tests.support.evaluator import Driver, make_config

STAFF = Staff("0421", "王敏")
CASE = Case("HD20261121000101", "11640100MB1234567X3000111222000", "居民身份证换领")


def push(driver, case=CASE):
    assert driver.evaluator.inbox.push_case(case) is None
    driver.until(
        lambda: driver.phase == "rating" and driver.status["projectNo"] == case.project_no,
        "rating page shown",
    )


def test_without_staff_the_window_is_paused_and_refuses_cases(tmp_path):
    with Driver(make_config(tmp_path)) as driver:
        assert driver.phase == "paused"
        assert driver.evaluator.inbox.push_case(CASE) == "E_PAUSED"
        driver.key(1)
        assert driver.ratings() == []


def test_a_tap_rates_the_case_on_screen_and_thanks_only_after_storing(window):
    push(window)
    window.clock.advance(2.5)
    window.tap_level(Level.SATISFIED)
    window.until(lambda: window.phase == "thanks", "thanks page")
    (record,) = window.ratings()
    assert (record["satisfaction"], record["source"], record["projectNo"]) == (
        4,
        "touch",
        CASE.project_no,
    )
    assert record["proManagerNo"] == "0421"  # filled from the signed-in staff
    assert record["reactionMs"] == 2500
    assert record["assessTime"] == "2026-11-21 10:00:02"  # Beijing time of the press
    assert window.status["lastEvaluationId"] == record["evaluationId"]
    window.clock.advance(3.1)
    window.until(lambda: window.phase == "idle", "back to idle")


def test_one_press_counts_and_a_touch_counts_once(window):
    push(window)
    window.tap_level(Level.VERY_SATISFIED, as_touch=True)
    window.tap_level(Level.BASICALLY_SATISFIED)
    window.key(3)
    assert [r["satisfaction"] for r in window.ratings()] == [5]


def test_keys_follow_the_configured_order(tmp_path):
    config = make_config(tmp_path)
    config = dataclasses.replace(
        config, keypad=dataclasses.replace(config.keypad, key_levels=[1, 2, 3, 4, 5])
    )
    with Driver(config) as driver:
        driver.evaluator.inbox.sign_in(STAFF)
        push(driver)
        driver.key(5)  # mounted the other way round: key 5 is 非常满意
        driver.until(lambda: driver.phase == "thanks", "thanks")
        assert driver.ratings()[0]["satisfaction"] == 5
        assert driver.ratings()[0]["source"] == "keypad"


def test_a_bad_rating_takes_the_raters_own_reasons(window):
    push(window)
    window.key(4)  # 不满意
    window.until(lambda: window.phase == "reasons", "reasons page")
    layout = window.evaluator.screen.layout
    window.tap_rect(layout.submit_button)  # nothing chosen: nothing happens
    assert window.phase == "reasons"
    tags = shipped_default().for_level(2)
    window.tap_rect(layout.next_group_button)  # 换一组: the third reason is in the second
    window.tap_rect(layout.tags(len(tags), 1)[0])
    window.tap_rect(layout.submit_button)
    window.until(lambda: window.phase == "thanks", "thanks")
    (record,) = window.ratings()
    assert record["satisfaction"] == 2
    assert record["evalDetail"] == [tags[2].code]
    assert record["writingEvaluation"] is None


def test_leaving_without_a_reason_stores_no_rating_and_says_so(window):
    push(window)
    window.key(5)  # 非常不满意
    window.until(lambda: window.phase == "reasons", "reasons page")
    window.clock.advance(61)
    window.until(lambda: window.phase == "rate_later", "reasons page timed out: the QR code")
    window.clock.advance(21)
    window.until(lambda: window.phase == "idle", "rate-later page over")
    assert window.ratings() == []
    (outcome,) = window.outcomes()
    assert (outcome["kind"], outcome["levelPressed"], outcome["projectNo"]) == (
        "no_reason",
        1,
        CASE.project_no,
    )
    assert outcome["signature"]


def test_no_press_offers_a_signed_rate_later_code(window):
    push(window)
    window.clock.advance(30.5)
    window.until(lambda: window.phase == "rate_later", "rate-later page")
    url = window.evaluator.loop.qr_url()
    assert url is not None and CASE.project_no in url and "hcp-test" in url
    (outcome,) = window.outcomes()
    assert (outcome["kind"], outcome["rateLater"]) == ("not_rated", True)
    window.clock.advance(20.5)
    window.until(lambda: window.phase == "idle", "idle again")
    assert window.ratings() == []


def test_a_code_handed_out_for_the_receipt_marks_the_cancelled_case_rate_later(window):
    push(window)
    code = window.evaluator.inbox.rate_later_code(CASE.project_no)
    assert code is not None and not isinstance(code, str) and CASE.project_no in code.url
    assert window.evaluator.inbox.cancel_case(CASE.project_no)
    window.until(lambda: window.phase == "idle", "case cancelled")
    (event,) = window.outcomes()
    assert (event["kind"], event["rateLater"]) == ("cancelled", True)


def test_a_new_case_ends_the_previous_one_as_not_rated(window):
    push(window)
    push(window, dataclasses.replace(CASE, project_no="HD20261121000102"))
    assert [o["kind"] for o in window.outcomes()] == ["replaced"]
    window.key(1)
    window.until(lambda: window.phase == "thanks", "thanks")
    assert window.ratings()[0]["projectNo"] == "HD20261121000102"


def test_cancel_ends_the_case(window):
    push(window)
    assert window.evaluator.inbox.cancel_case("NOT-ON-SCREEN") is False
    assert window.evaluator.inbox.cancel_case(CASE.project_no) is True
    window.until(lambda: window.phase == "idle", "cancelled")
    assert [o["kind"] for o in window.outcomes()] == ["cancelled"]


def test_a_theme_page_rates_overall_and_chosen_items(window):
    theme = Theme(
        "YJS-7",
        "开办企业一件事",
        (ThemeItem("P2", "企业设立登记"), ThemeItem("P3", "公章刻制备案")),
    )
    push(window, dataclasses.replace(CASE, theme=theme))
    layout = window.evaluator.screen.layout
    rows = layout.rows(("overall", "item:0", "item:1"))
    window.tap_rect(dict(rows[0][2])[Level.VERY_SATISFIED])
    window.tap_rect(dict(rows[2][2])[Level.SATISFIED])
    window.tap_rect(layout.submit_button)
    window.until(lambda: window.phase == "thanks", "thanks")
    record = window.ratings()[0]
    assert record["satisfaction"] == 5
    assert record["theme"] == {
        "themeNo": "YJS-7",
        "items": [
            {"projectNo": "P2", "satisfaction": None},
            {"projectNo": "P3", "satisfaction": 4},
        ],
    }


def test_indicators_by_keys_row_after_row(window):
    push(window, dataclasses.replace(CASE, indicators=True))
    for key in (2, 1, 3):  # overall 满意, business 非常满意, service 基本满意
        window.key(key)
    window.until(lambda: window.phase == "thanks", "thanks")
    record = window.ratings()[0]
    assert (record["satisfaction"], record["indicators"]) == (4, {"business": 5, "service": 3})


def test_a_self_service_terminal_is_touch_only_and_names_the_terminal(tmp_path):
    with Driver(make_config(tmp_path, mode="self_service")) as driver:
        assert driver.phase == "idle"
        push(driver, dataclasses.replace(CASE, terminal_no="ZZ-0031"))
        driver.key(1)
        assert driver.phase == "rating"
        driver.tap_level(Level.VERY_SATISFIED)
        driver.until(lambda: driver.phase == "thanks", "thanks")
        record = driver.ratings()[0]
        assert (record["pf"], record["terminalNo"], record["proManagerNo"]) == (5, "ZZ-0031", None)


def test_a_missing_key_puts_the_device_out_of_service(tmp_path):
    with Driver(make_config(tmp_path, key=False)) as driver:
        assert driver.phase == "out_of_service"
        assert driver.status["outOfService"] == "oos_key"
        assert driver.evaluator.inbox.push_case(CASE).startswith("E_OUT_OF_SERVICE")


def test_low_disk_stops_ratings_until_space_returns(tmp_path):
    config = make_config(tmp_path)
    config = dataclasses.replace(
        config, device=dataclasses.replace(config.device, min_free_mb=10**9)
    )
    with Driver(config) as driver:
        driver.until(lambda: driver.phase == "out_of_service", "out of service")
        assert driver.status["outOfService"] == "oos_disk"
        driver.evaluator.health.min_free_bytes = 1
        driver.clock.advance(11)
        driver.evaluator.inbox.sign_in(STAFF)
        driver.until(lambda: driver.phase == "idle", "back in service")


def test_a_failed_write_is_never_thanked(window):
    push(window)
    window.evaluator.ledger.conn.execute("PRAGMA query_only = ON")
    window.key(1)
    window.until(lambda: window.phase == "out_of_service", "out of service")
    assert window.status["outOfService"] == "oos_ledger"
    window.evaluator.ledger.conn.execute("PRAGMA query_only = OFF")
    assert window.ratings() == []
    window.clock.advance(11)
    window.until(lambda: window.phase == "idle", "back in service")


def test_every_rating_it_stores_verifies(window, tmp_path):
    for n in range(3):
        push(window, dataclasses.replace(CASE, project_no=f"HD2026112100010{n}"))
        window.key(1 + n)
        window.until(lambda: window.phase == "thanks", "thanks")
    report = verify_ledger(window.config.ledger_path)
    assert report.ok and report.rows == 3
    assert json.dumps(window.ratings(), ensure_ascii=False).count("王敏") == 3


def test_the_keypad_lights_invite_then_show_the_choice_then_go_dark(tmp_path):
    """A hall that turned the private press off: the chosen key stays lit while thanked."""
    from simulator.virtual_keypad import VirtualKeypad

    with VirtualKeypad(link_path=tmp_path / "keypad") as board:
        config = make_config(tmp_path, keypad=board.port, private_press=False)
        with Driver(config) as driver:
            driver.until(lambda: driver.status["keypadConnected"] is True, "keypad found")
            driver.evaluator.inbox.sign_in(STAFF)
            push(driver)
            driver.until(lambda: board.lights == "11111", "all keys lit")
            board.press(2)
            driver.until(lambda: driver.phase == "thanks", "stored")
            driver.until(lambda: board.lights == "01000", "the chosen key lit")
            assert board.beeps
            record = driver.ratings()[0]
            assert (record["satisfaction"], record["source"]) == (4, "keypad")
            driver.clock.advance(3.5)
            driver.until(lambda: board.lights == "00000", "dark again")


def test_a_key_restored_later_brings_the_device_into_service(tmp_path):
    config = make_config(tmp_path, key=False)
    with Driver(config) as driver:
        assert driver.status["outOfService"] == "oos_key"
        driver.evaluator.inbox.sign_in(STAFF)
        from device.keys.signing import DeviceKey

        DeviceKey.generate().save(config.key_path)  # the technician restores the key
        driver.clock.advance(11)
        driver.until(lambda: driver.phase == "idle", "in service")
        push(driver)
        driver.key(1)
        driver.until(lambda: driver.phase == "thanks", "rated")
