"""The drain benchmark, small: a backlog built with the real ledger, the province and the sync
as processes of their own, every rating at the province once, one JSON line printed."""

from __future__ import annotations

import json
import tempfile

from bench.drain import main


def test_a_small_backlog_drains_and_is_reported_in_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the backlog cache goes here
    main(["--ratings", "700", "--runs", "2", "--keep", str(tmp_path / "runs")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["bench"] == "drain"
    assert result["ratings"] == 700
    assert result["batches"] == 2  # 500 + 200, each timed by the sync
    assert len(result["all_runs"]) == 2
    assert result["ratings_per_s"] > 0
    assert 10 < result["sync_peak_rss_mb"] < 500
    assert (tmp_path / "runs" / "run2" / "province.db").exists()
    assert list(tmp_path.glob("haochaping-drain-*/ready"))  # built once, used twice


def test_the_gm_soap_drain_is_reported_beside_the_default_in_one_line(
    capsys, monkeypatch, tmp_path
):
    """`--adapter gm-soap`: a device registered at the stand-in's 国密 dialect drains its own
    backlog, and the default adapter's in the same run; one line holds both."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    main(["--ratings", "150", "--adapter", "gm-soap"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert (result["adapter"], result["ratings"], result["batches"]) == ("gm-soap", 150, 2)
    assert result["ratings_per_s"] > 0 and 10 < result["sync_peak_rss_mb"] < 500
    beside = result["default_adapter"]
    assert (beside["adapter"], beside["ratings"], beside["batches"]) == ("province-v1", 150, 1)
    assert beside["ratings_per_s"] > 0
