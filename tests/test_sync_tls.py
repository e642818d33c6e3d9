"""The sync speaks HTTPS to the province and trusts only the configured CA bundle; it wakes
within about a second of a new rating instead of waiting for its idle poll."""

from __future__ import annotations

import threading
import time

import pytest

from provisioning.setup_device import SiteAnswers, provision
from simulator.hall import DEMO_AREA, DEMO_DEPT
from sync.cli import build
from sync.province_client import RetryableError
from tests.support.polling import wait_until
from tests.support.sync import Device, record_rating, watching_for_new_ratings
from tests.support.tls import make_ca_and_server


def _device(tmp_path, server, bundle):
    return provision(
        config_path=tmp_path / "device.toml",
        state_dir=tmp_path / "state",
        province_url=server.url,
        token="tls-token",
        ca_bundle=str(bundle),
        site=SiteAnswers(area_code=DEMO_AREA, dept_code=DEMO_DEPT),
    )


def test_ratings_go_over_https_verified_against_the_configured_ca(tmp_path, tls_province):
    server, bundle = tls_province
    assert server.url.startswith("https://127.0.0.1:")
    config = _device(tmp_path, server, bundle)
    eid = record_rating(config, 1)
    assert build(config).step() == 0.0
    assert server.store.evaluation_ids() == [eid]


def test_a_certificate_from_another_ca_is_refused_and_nothing_is_sent(tmp_path, tls_province):
    server, bundle = tls_province
    config = _device(tmp_path, server, bundle)
    record_rating(config, 1)
    other_bundle, _ = make_ca_and_server(tmp_path / "other", ca_name="Someone Else")
    import dataclasses

    wrong = dataclasses.replace(
        config, province=dataclasses.replace(config.province, ca_bundle=str(other_bundle))
    )
    daemon = build(wrong)
    with pytest.raises(RetryableError, match="SSLError"):
        daemon.sender.send_round()
    assert server.store.evaluation_ids() == []


def test_a_new_rating_leaves_within_about_a_second(tmp_path, province):
    device = Device(tmp_path, province, poll_seconds=120.0)  # the idle poll alone would wait
    daemon = build(device.config)
    watching = watching_for_new_ratings(daemon)
    worker = threading.Thread(target=daemon.run)
    worker.start()
    try:
        wait_until(watching.is_set, "the daemon idle, watching for new ratings", timeout=10)
        started = time.monotonic()
        eid = device.record(1).evaluation_id
        wait_until(
            lambda: eid in province.store.evaluation_ids(), "the rating delivered", timeout=10
        )
        assert time.monotonic() - started < 2.0
    finally:
        daemon.stop()
        worker.join(10)
