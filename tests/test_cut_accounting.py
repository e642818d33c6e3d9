"""The power-cut benchmark's books: what counts as lost, duplicated, spurious, and which
boots pass."""

from __future__ import annotations

from bench.cut_accounting import Boot, BootOutcome, HeldRating, Observations, count
from device.ledger.counts import read_counts, read_ratings
from sync.cli import build
from tests.support.sync import Device


def _rating(eid: str, no: str, device: str = "d1") -> HeldRating:
    return HeldRating(eid, (no, 1), device)


def _run() -> Observations:
    seen = Observations()
    for no in ("A", "B", "C"):
        seen.pressed((no, 1))
    seen.confirmed(("A", 1))
    seen.confirmed(("B", 1))
    seen.booted(Boot(BootOutcome.IN_SERVICE))
    return seen


def test_a_clean_run_meets_the_target():
    seen = _run()
    seen.ledger_read("d1", [_rating("e1", "A"), _rating("e2", "B")], verified=True)
    seen.province = [_rating("e1", "A")]
    figures = count(seen)
    assert figures["met"] is True
    assert (figures["presses"], figures["acknowledged"], figures["in_ledger_after_boot"]) == (
        3,
        2,
        2,
    )
    assert figures["delivered"] == 1
    assert figures["lost"] == figures["duplicated"] == figures["spurious"] == 0


def test_a_pressed_but_unconfirmed_case_may_be_kept_or_not():
    seen = _run()  # C pressed, the cut came before its confirmation
    seen.ledger_read("d1", [_rating("e1", "A"), _rating("e2", "B"), _rating("e3", "C")], True)
    assert count(seen)["met"] is True


def test_an_acknowledged_rating_missing_after_the_boot_is_lost():
    seen = _run()
    seen.ledger_read("d1", [_rating("e1", "A")], verified=True)
    figures = count(seen)
    assert figures["lost"] == 1 and figures["lost_cases"] == ["B#1"]
    assert figures["met"] is False


def test_a_rating_only_the_province_holds_is_not_lost():
    seen = _run()
    seen.ledger_read("d1", [_rating("e1", "A")], verified=True)
    seen.province = [_rating("e2", "B")]
    assert count(seen)["lost"] == 0


def test_the_same_rating_in_ledger_and_province_is_one_rating():
    seen = _run()
    seen.ledger_read("d1", [_rating("e1", "A"), _rating("e2", "B")], verified=True)
    seen.province = [_rating("e1", "A"), _rating("e2", "B")]
    assert count(seen)["duplicated"] == 0


def test_a_case_rated_twice_is_duplicated_wherever_the_second_rating_is():
    in_ledger = _run()
    in_ledger.ledger_read("d1", [_rating("e1", "A"), _rating("e9", "A"), _rating("e2", "B")], True)
    at_province = _run()
    at_province.ledger_read("d1", [_rating("e1", "A"), _rating("e2", "B")], True)
    at_province.province = [_rating("e1", "A"), _rating("e8", "A")]
    two_devices = _run()
    two_devices.ledger_read("d1", [_rating("e1", "A"), _rating("e2", "B")], True)
    two_devices.ledger_read("d2", [_rating("e7", "A", "d2")], True)
    for seen in (in_ledger, at_province, two_devices):
        figures = count(seen)
        assert figures["duplicated"] == 1
        assert figures["met"] is False


def test_a_rating_nobody_pressed_for_is_spurious():
    seen = _run()
    seen.ledger_read("d1", [_rating("e1", "A"), _rating("e2", "B")], verified=True)
    seen.province = [_rating("e5", "Z")]
    figures = count(seen)
    assert figures["spurious"] == 1 and figures["spurious_cases"] == ["Z#1"]
    assert figures["met"] is False


def test_the_last_read_of_a_ledger_is_what_counts():
    seen = _run()
    seen.ledger_read("d1", [_rating("e1", "A"), _rating("e2", "B")], verified=True)
    seen.ledger_read("d1", [_rating("e1", "A")], verified=True)  # B vanished in a later cut
    assert count(seen)["lost"] == 1


def test_boots_that_say_why_pass_and_silent_ones_fail():
    seen = _run()
    seen.ledger_read("d1", [_rating("e1", "A"), _rating("e2", "B")], verified=True)
    seen.booted(Boot(BootOutcome.NOT_IN_SERVICE_WITH_REASON, "waiting for provisioning"))
    figures = count(seen)
    assert figures["met"] is True
    assert figures["boots_not_in_service_with_reason"] == 1
    assert figures["reasons_given"] == ["waiting for provisioning"]
    seen.booted(Boot(BootOutcome.SILENT))
    assert count(seen)["met"] is False


def test_a_ledger_that_does_not_verify_fails_the_run():
    seen = _run()
    seen.ledger_read("d1", [_rating("e1", "A"), _rating("e2", "B")], verified=False, finding="x")
    figures = count(seen)
    assert figures["ledgers_verified"] == 0 and figures["ledger_findings"] == ["x"]
    assert figures["met"] is False


def test_a_ledger_is_read_as_the_ratings_it_holds(filled):
    held = read_ratings(filled)
    assert len(held) == read_counts(filled).ratings > 0
    assert len({rating.evaluation_id for rating in held}) == len(held)
    assert all(rating.project_no and rating.assess_number >= 1 for rating in held)


def test_the_stand_in_lists_the_cases_it_holds(tmp_path, province):
    device = Device(tmp_path, province)
    stored = device.record(1)
    assert build(device.config).step() == 0.0
    ((eid, project_no, assess_number, device_id),) = province.store.rated_cases()
    assert eid == stored.evaluation_id
    assert device_id == device.config.province.device_id
    assert (project_no, assess_number) == (stored.record["projectNo"], 1)
