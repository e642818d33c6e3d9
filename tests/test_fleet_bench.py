"""The fleet reconnection benchmark, small and quick: 20 devices, a 2-second outage of each
flavour (refused, 503), every rating at the province exactly once, one JSON line printed.
"""

from __future__ import annotations

import json

from bench.fleet_reconnect import main
from bench.load_shape import load_shape


def test_a_small_fleet_reconnects_and_delivers_every_rating_once(capsys):
    # time factor 0.01: base 0.01 s, cap 3 s, a 200 s (simulated) outage lasts 2 s
    argv = ["--devices", "20", "--time-factor", "0.01", "--outage-s", "200"]
    main([*argv, "--retry-after", "100", "--outage", "refused", "503", "--seed", "7"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["devices"] == 20
    assert [run["outage"] for run in result["runs"]] == ["refused", "503"]
    for run in result["runs"]:
        ratings = run["ratings"]
        assert run["drained"], run
        assert ratings["exactly_once"], ratings
        assert ratings["at_province"] == ratings["accepted"] == ratings["total"] >= 20 * 5
        assert run["batches_by_status"]["200"] == 20  # one batch per device once it is back
        assert run["job_runs"]["heartbeat"] >= 20  # each device beat within its first second
        assert run["per_simulated_second"]["peak"] >= 1
    assert result["runs"][0]["outage_attempts_by_status"].keys() == {"unreachable"}
    during_503 = result["runs"][1]["outage_attempts_by_status"]
    assert "503" in during_503 and "unreachable" not in during_503  # (a job begun just
    # before the end may be answered just after it)


def test_load_shape_counts_per_interval_over_the_whole_window():
    shape = load_shape([0.0, 0.1, 0.1, 1.5, 3.9, 9.0], start=0.0, end=4.0, interval=1.0)
    assert shape.counts == (3, 1, 0, 1)
    assert (shape.peak, shape.mean, shape.ratio) == (3, 1.25, 2.4)
    assert shape.per_part(2) == [4, 1]
