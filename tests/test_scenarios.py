"""Scenario files: the format's errors are named, and the shipped scenarios run on a real
simulated hall (processes, ptys, HTTP) with every rating accounted for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from simulator.scenario import ScenarioError, parse
from tests.support import ROOT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("windows = 0\n[[step]]\nsleep = 1", "windows must be 1-16"),
        ("[[step]]\nsleep = 1\npress = 2", "exactly one action"),
        ("[[step]]\nfly = 1", "exactly one action"),
        ("[[step]]\nwindow = 3\npress = 1", "window must be 1-1"),
        ("name = 'x'", "at least one"),
        ("[[step]\n", "not valid TOML"),
    ],
)
def test_bad_scenarios_are_named(text, message):
    with pytest.raises(ScenarioError, match=message):
        parse(text)


def test_a_scenario_reads_as_steps():
    scenario = parse((ROOT / "simulator/scenarios/outage.toml").read_text(encoding="utf-8"))
    assert scenario.windows == 2
    assert [s.action for s in scenario.steps[:3]] == ["sign_in", "sign_in", "fault"]
    assert scenario.steps[1].window == 2


@pytest.mark.slow
def test_the_outage_scenario_delivers_every_rating(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "scenario",
            "simulator/scenarios/outage.toml",
            "--headless",
            "--workdir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outage: 3 pressed, 3 stored, 3 accepted by province" in result.stdout
    assert "window 1: keypad plugged back in" in result.stdout
