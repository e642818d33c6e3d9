"""The counter console drives a real simulated hall: a push shows the case on the evaluator,
a key press on the page rates it, the page shows it, faults reach the province."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import requests

from simulator.console import Console
from simulator.hall import Hall
from tests.support.polling import wait_until


def _post(console, **form):
    response = requests.post(console.url + "act", data=form, timeout=10, allow_redirects=False)
    assert response.status_code == 303
    return console.messages[-1]


@pytest.mark.slow
def test_the_console_runs_a_window_end_to_end(tmp_path):
    with Hall(tmp_path, windows=2) as hall:
        console = Console(hall)
        console.start()
        try:
            window = hall.windows[0]
            assert "refused" in _post(console, action="push", window="1", kind="window")
            assert "signed in" in _post(console, action="sign_in", window="1")
            wait_until(lambda: window.client.status()["phase"] == "idle", "window 1 idle", 10)
            assert "pushed" in _post(console, action="push", window="1", kind="batch")
            wait_until(lambda: window.client.status()["phase"] == "rating", "case shown", 10)
            assert "key 2 pressed" in _post(console, action="key", window="1", key="2")
            wait_until(lambda: window.client.status()["ratedSinceStart"] == 1, "rated", 10)
            page = requests.get(console.url, timeout=10).text
            assert "rated 1" in page and "窗口 2" in page
            assert "down on" in _post(console, action="fault", kind="down")
            assert "down" in hall.province.faults.active()
            _post(console, action="fault", kind="clear")
            assert not hall.province.faults.active()
            assert "not done" in _post(console, action="key", window="9", key="1")
            assert "not done" in _post(console, action="key", window="1", key="7")
            if shutil.which("chromium"):
                dom = subprocess.run(
                    [
                        "chromium",
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        f"--user-data-dir={tmp_path / 'chrome'}",
                        "--dump-dom",
                        console.url,
                    ],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                assert "好差评 hall console" in dom.stdout
                assert "officer's page" in dom.stdout
        finally:
            console.stop()
