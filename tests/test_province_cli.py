"""The stand-in's command line: `fault`, `stats` and `tags` against a running stand-in, and
`serve` (explicit or, as before, implied) with an admin token and a tag list file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from simulator.province.cli import main
from simulator.province.tags import default_tag_list
from tests.support.province import EnrolledDevice

pytestmark = pytest.mark.bare_province("token-a")


def run(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def test_fault_set_and_clear_from_the_command_line(capsys, province, device):
    code, body, _ = run(
        capsys, "fault", "--url", province.root_url, "set", "rate", "--retry-after", "4"
    )
    assert code == 0
    assert body["faults"] == {"rate": {"probability": 1.0, "retryAfter": 4}}
    reply = device.heartbeat()
    assert (reply.status_code, reply.headers["Retry-After"]) == (429, "4")
    code, body, _ = run(
        capsys, "fault", "--url", province.url, "clear", "rate"
    )  # API URL works too
    assert (code, body["faults"]) == (0, {})
    assert device.heartbeat().status_code == 200


def test_every_parameter_reaches_the_server(capsys, province):
    argv = ["fault", "--url", province.root_url, "set", "reject", "--probability", "0.25"]
    argv += ["--ids", "a, b", "--fraction", "0.1", "--code", "E_FIELD", "--field", "taskName"]
    assert run(capsys, *argv)[0] == 0
    run(capsys, "fault", "--url", province.root_url, "set", "down", "--mode", "close")
    run(capsys, "fault", "--url", province.root_url, "set", "slow", "--delay-ms", "5")
    code, listed, _ = run(capsys, "fault", "--url", province.root_url, "list")
    assert code == 0
    assert listed["faults"] == {
        "down": {"probability": 1.0, "mode": "close", "retryAfter": 5},
        "reject": {
            "probability": 0.25,
            "evaluationIds": ["a", "b"],
            "fraction": 0.1,
            "code": "E_FIELD",
            "field": "taskName",
        },
        "slow": {"probability": 1.0, "delayMs": 5},
    }
    assert run(capsys, "fault", "--url", province.root_url, "clear")[1]["faults"] == {}


def test_stats_and_tags_from_the_command_line(capsys, tmp_path, province, device):
    device.heartbeat()
    code, stats, _ = run(capsys, "stats", "--url", province.root_url, "--reset")
    assert (code, stats["total"]) == (0, 2)  # the enrolment and the heartbeat
    assert run(capsys, "stats", "--url", province.root_url)[1]["total"] == 0
    tag_list = default_tag_list().as_json() | {"version": "cli-2"}
    path = tmp_path / "tags.json"
    path.write_text(json.dumps(tag_list, ensure_ascii=False), encoding="utf-8")
    assert run(capsys, "tags", "--url", province.root_url, "--publish", str(path))[1] == {
        "version": "cli-2"
    }
    assert run(capsys, "tags", "--url", province.root_url)[1] == tag_list
    assert device.heartbeat().json()["tagsVersion"] == "cli-2"


def test_mistakes_are_reported_in_one_line(capsys, province):
    code, _, err = run(
        capsys, "fault", "--url", province.root_url, "set", "slow", "--retry-after", "1"
    )
    assert code == 1
    assert "422 E_FIELD: retryAfter is not a parameter of the slow fault" in err
    code, _, err = run(capsys, "fault", "--url", "http://127.0.0.1:1", "list")
    assert code == 1
    assert "cannot reach http://127.0.0.1:1/admin" in err
    with pytest.raises(SystemExit):
        main(["fault", "--url", province.root_url, "set", "flood"])


def test_serve_with_an_admin_token_and_a_tag_list(tmp_path):
    tags = tmp_path / "tags.json"
    tags.write_text(json.dumps(default_tag_list().as_json() | {"version": "file-1"}), "utf-8")
    command = [sys.executable, "-m", "simulator.province", "serve", "--db", str(tmp_path / "p.db")]
    command += ["--token", "t", "--admin-token", "s3cret", "--tags", str(tags)]
    command += ["--log-level", "WARNING"]
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = runner.stdout.readline().strip().rsplit(" ", 1)[1]
        root = runner.stdout.readline().strip().rsplit(" ", 1)[1]
        device = EnrolledDevice.enrol(url, token="t")
        assert device.heartbeat().json()["tagsVersion"] == "file-1"
        fault = [sys.executable, "-m", "simulator.province", "fault", "--url", root]
        refused = subprocess.run(
            [*fault, "set", "down"], check=False, capture_output=True, text=True, timeout=30
        )
        assert refused.returncode == 1
        assert "401 E_AUTH" in refused.stderr
        env = {**os.environ, "PROVINCE_ADMIN_TOKEN": "s3cret"}
        done = subprocess.run(
            [*fault, "set", "down"], env=env, check=False, capture_output=True, timeout=30
        )
        assert done.returncode == 0
        assert device.heartbeat().status_code == 503
    finally:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=10) == 0
        runner.stdout.close()
