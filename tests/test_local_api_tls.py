"""Off loopback the local API speaks HTTPS only, with the device certificate a client pins;
plain HTTP there is refused by the configuration, and an http:// province URL must point at
loopback. The rules as pure functions, then through real servers, files and processes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys

import pygame
import pytest
import requests
import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device.daemon.addresses import (
    is_loopback,
    local_api_serves_tls,
    plain_http_refused,
    province_url_problem,
)
from device.daemon.config import ConfigError, from_dict, to_dict
from device.local_api.server import LocalApi
from device.local_api.tls import (
    CertificateError,
    certificate_key_path,
    certificate_path,
    server_context,
)
from provisioning.certificate import certificate_fingerprint, make_certificate
from provisioning.label import label_text
from simulator.local_client import EvaluatorClient
from tests.support import ROOT
from tests.support.dummy_evaluator import DummyEvaluator
from tests.support.evaluator import Driver, make_config
from tests.support.flood import REQUEST_START, ended, status_answers
from tests.support.local_api import TOKEN, WANG

HOST = "127.0.0.2"
WRONG_PIN = ":".join(["AB"] * 32)

# -- the rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.10.1", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("", False),
        ("::", False),
        ("192.168.1.20", False),
        ("10.0.0.5", False),
        ("fe80::1", False),
        ("evaluator.hall.local", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.evil.example", False),
    ],
)
def test_what_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_off_loopback_means_https_and_plain_http_there_is_refused():
    assert local_api_serves_tls("0.0.0.0", None)
    assert local_api_serves_tls("192.168.1.20", None)
    assert local_api_serves_tls("192.168.1.20", True)
    assert not local_api_serves_tls("127.0.0.1", None)
    assert not local_api_serves_tls("127.0.0.2", False)
    assert local_api_serves_tls("127.0.0.2", True)  # asked for on loopback
    assert plain_http_refused("0.0.0.0", False)
    assert plain_http_refused("192.168.1.20", False)
    assert not plain_http_refused("127.0.0.1", False)
    assert not plain_http_refused("192.168.1.20", None)  # HTTPS then: nothing to refuse


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hcp.example.gov.cn/api/v1", True),
        ("https://10.0.0.5/api/v1", True),
        ("http://127.0.0.1:8123/api/v1", True),
        ("http://127.3.0.9/api/v1", True),
        ("http://[::1]:8123/api/v1", True),
        ("http://localhost:8123/api/v1", True),
        ("http://hcp.example.gov.cn/api/v1", False),
        ("http://10.0.0.5/api/v1", False),
        ("http://127.0.0.1.evil.example/api/v1", False),
        ("http://0.0.0.0:8123/api/v1", False),
        ("ftp://127.0.0.1/api/v1", False),
        ("https:///api/v1", False),
    ],
)
def test_which_province_urls_may_be_used(url, ok):
    assert (province_url_problem(url) is None) is ok


def _config_dict(tmp_path, **local_api):
    data = to_dict(make_config(tmp_path, key=False))
    data["local_api"].update(local_api)
    return data


def test_the_configuration_refuses_an_http_province_url_off_loopback(tmp_path):
    data = _config_dict(tmp_path)
    data["province"]["base_url"] = "http://hcp.example.gov.cn/api/v1"
    with pytest.raises(ConfigError) as refused:
        from_dict(data)
    assert "[province] base_url" in str(refused.value)
    assert "hcp.example.gov.cn" in str(refused.value) and "https://" in str(refused.value)
    data["province"]["base_url"] = "http://localhost:8123/api/v1"
    assert from_dict(data).province.base_url.startswith("http://localhost")


def test_the_configuration_refuses_plain_http_off_loopback(tmp_path):
    with pytest.raises(ConfigError) as refused:
        from_dict(_config_dict(tmp_path, bind="0.0.0.0", tls=False))
    assert "[local_api] tls" in str(refused.value) and "0.0.0.0" in str(refused.value)
    assert from_dict(_config_dict(tmp_path, bind="0.0.0.0")).local_api.serves_tls
    assert not from_dict(_config_dict(tmp_path, bind="127.0.0.2")).local_api.serves_tls
    with pytest.raises(ConfigError, match=r"\[local_api\] tls has the wrong type"):
        from_dict(_config_dict(tmp_path, tls="yes"))


def test_the_evaluator_will_not_start_with_plain_http_off_loopback(tmp_path):
    path = tmp_path / "device.toml"
    path.write_text(tomli_w.dumps(_config_dict(tmp_path, bind="0.0.0.0", tls=False)))
    result = subprocess.run(
        [sys.executable, "-m", "device", "run", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
    )
    assert result.returncode != 0
    assert "[local_api] tls = false: plain HTTP is refused" in result.stderr


# -- the device certificate -------------------------------------------------------------------


def test_the_certificate_names_the_device_and_its_key_is_private(tmp_path):
    state = tmp_path / "state"
    pin = make_certificate(state, "hcp-0042")
    pem = certificate_path(state).read_bytes()
    certificate = x509.load_pem_x509_certificate(pem)
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == "hcp-0042"
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert certificate.public_key().curve.name == "secp256r1"
    der = certificate.public_bytes(
        __import__("cryptography").hazmat.primitives.serialization.Encoding.DER
    )
    assert pin.replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    assert certificate_fingerprint(state) == pin
    assert os.stat(certificate_key_path(state)).st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" not in pem


@pytest.fixture
def https_api(tmp_path):
    state = tmp_path / "state"
    pin = make_certificate(state, "hcp-0042")
    evaluator = DummyEvaluator("window", WANG)
    server = LocalApi(HOST, 0, TOKEN, evaluator, "window", tls=server_context(state))
    server.start()
    yield server, pin
    server.stop()


def test_a_client_pinning_the_fingerprint_is_served(https_api):
    server, pin = https_api
    client = EvaluatorClient(f"https://{HOST}:{server.port}/api/v1", TOKEN, pin=pin)
    try:
        assert client.status()["staff"] is not None
        body = {"projectNo": "TLS-1", "taskCode": "T", "taskName": "事项"}
        assert client.push_case({**body, "proManagerNo": "0421", "proManager": "王敏"}) == {
            "projectNo": "TLS-1",
            "status": "queued",
        }
    finally:
        client.close()


def test_a_wrong_fingerprint_is_refused_before_the_token_is_sent(https_api):
    server, _pin = https_api
    client = EvaluatorClient(f"https://{HOST}:{server.port}/api/v1", TOKEN, pin=WRONG_PIN)
    try:
        with pytest.raises(requests.exceptions.SSLError, match=r"[Ff]ingerprint"):
            client.status()
    finally:
        client.close()
    # and a client that checks against the usual authorities refuses the self-signed one
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://{HOST}:{server.port}/api/v1/status", timeout=5)


def test_plain_http_to_the_https_port_gets_nothing(https_api):
    server, _pin = https_api
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        sock.sendall(REQUEST_START + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
        closed, answer = ended(sock, timeout=5)
    assert closed
    assert b"HTTP/" not in answer and b"staff" not in answer
    assert not status_answers(f"http://{HOST}:{server.port}/api/v1", TOKEN)


def test_the_evaluator_serves_https_with_its_certificate_and_refuses_to_start_without(tmp_path):
    config = make_config(tmp_path)
    config = dataclasses.replace(
        config, local_api=dataclasses.replace(config.local_api, bind=HOST, tls=True)
    )
    with pytest.raises(CertificateError, match="haochaping-provision certificate"):
        Driver(config).__enter__()
    pygame.quit()
    pin = make_certificate(config.state_dir, config.province.device_id)
    with Driver(config) as driver:
        url = f"https://{HOST}:{driver.evaluator.api.port}/api/v1"
        client = EvaluatorClient(url, config.local_api.token, pin=pin)
        try:
            assert client.status()["phase"] is not None
        finally:
            client.close()


def test_show_and_the_label_carry_the_fingerprint(tmp_path):
    config = make_config(tmp_path)
    assert json.loads(label_text(config))["localApiCert"] is None
    pin = make_certificate(config.state_dir, config.province.device_id)
    label = json.loads(label_text(config))
    assert label["localApiCert"] == pin
    assert label["localApi"] == f"{config.local_api.bind}:{config.local_api.port}"
    path = tmp_path / "device.toml"
    path.write_text(tomli_w.dumps(to_dict(config)))
    shown = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", "show", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"certificate:  SHA-256 {pin}" in shown.stdout
    assert "http (loopback only)" in shown.stdout
    assert config.local_api.token not in shown.stdout
