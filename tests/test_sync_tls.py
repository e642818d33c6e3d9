"""The sync speaks HTTPS to the province and trusts only the configured CA bundle; it wakes
within about a second of a new rating instead of waiting for its idle poll."""

from __future__ import annotations

import threading
import time

import pytest

from device.evaluator.app import site_of
from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from provisioning.setup_device import SiteAnswers, provision
from simulator.hall import DEMO_AREA, DEMO_DEPT
from simulator.province.server import ProvinceServer
from simulator.province.store import ProvinceStore
from sync.cli import build
from sync.province_client import RetryableError
from tests.conftest import make_body
from tests.tls_material import make_ca_and_server


@pytest.fixture
def tls_province(tmp_path):
    bundle, context = make_ca_and_server(tmp_path / "tls")
    store = ProvinceStore(tmp_path / "province.db")
    server = ProvinceServer(store, tls=context)
    server.start()
    store.add_token("tls-token", 600)
    yield server, bundle
    server.stop()
    store.close()


def _device(tmp_path, server, bundle):
    return provision(
        config_path=tmp_path / "device.toml",
        state_dir=tmp_path / "state",
        province_url=server.url,
        token="tls-token",
        ca_bundle=str(bundle),
        site=SiteAnswers(area_code=DEMO_AREA, dept_code=DEMO_DEPT),
    )


def _record(config, n):
    with Ledger(config.ledger_path) as ledger:
        return ledger.append(
            make_body(n, site=site_of(config)),
            DeviceKey.load(config.key_path),
            IdentityVault.load(config.identity_key_path),
        ).evaluation_id


def test_ratings_go_over_https_verified_against_the_configured_ca(tmp_path, tls_province):
    server, bundle = tls_province
    assert server.url.startswith("https://127.0.0.1:")
    config = _device(tmp_path, server, bundle)
    eid = _record(config, 1)
    assert build(config).step() == 0.0
    assert server.store.evaluation_ids() == [eid]


def test_a_certificate_from_another_ca_is_refused_and_nothing_is_sent(tmp_path, tls_province):
    server, bundle = tls_province
    config = _device(tmp_path, server, bundle)
    _record(config, 1)
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
    from tests.sync_fixtures import Device

    device = Device(tmp_path, province, poll_seconds=120.0)  # the idle poll alone would wait
    daemon = build(device.config)
    worker = threading.Thread(target=daemon.run)
    worker.start()
    try:
        time.sleep(0.5)  # the daemon is idle, waiting
        started = time.monotonic()
        eid = device.record(1).evaluation_id
        while eid not in province.store.evaluation_ids() and time.monotonic() - started < 10:
            time.sleep(0.02)
        assert time.monotonic() - started < 2.0
    finally:
        daemon.stop()
        worker.join(10)
