"""The voice's key-to-glass benchmark, small: real evaluators with the voice on and off, a
real pty keypad, one JSON line printed."""

from __future__ import annotations

import json

from bench.voice_key_to_glass import main


def test_the_voice_benchmark_reports_both_settings_in_one_line(capsys):
    main(["--presses", "6", "--rounds", "2"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["bench"] == "voice_key_to_glass"
    assert result["presses"] == 6
    assert result["voice_on"]["prompts_heard"] == 6  # the thanks prompt was playing
    assert result["voice_off"]["prompts_heard"] == 0
    assert result["say_calls"] == 12  # rate and thanks, per press
    assert 0 < result["voice_off"]["p50_ms"] <= result["voice_off"]["max_ms"]
