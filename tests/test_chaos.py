"""A short chaos campaign on real processes: kills, unplugs, faults, a full disk. Nothing
acknowledged is lost, nothing is stored twice, nothing is rated without a press."""

from __future__ import annotations

import pytest

from bench.chaos import run


@pytest.mark.slow
def test_a_short_chaos_campaign_keeps_every_promise():
    result = run(seconds=25, windows=2, seed=11)
    assert result["acknowledged"] > 5, result
    assert (result["lost"], result["duplicated"], result["spurious"]) == (0, 0, 0), result
    assert result["ledgers_verify"] is True
    assert sum(result["events"].values()) > 10
