"""The rating page benchmark, small: five cases pushed, opened, pressed and thanked over HTTP on
a real web terminal, all delivered, the font subset made and then found."""

from __future__ import annotations

import json

from bench.rate_page import main


def test_the_rate_page_bench_prints_its_figures(capsys):
    result = main(["--cases", "5"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert result["bench"] == "rate_page" and result["delivered"] == 5
    assert 0 < result["p50_ms"] <= result["p99_ms"] < 2000
    assert result["font_bytes"] > 200_000 and result["font_warm_s"] < result["font_cold_s"]
