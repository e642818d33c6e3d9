"""Retry delays a fleet of devices produces: spread out, never shorter than the province asked."""

from __future__ import annotations

import random

from sync.backoff import Backoff


def test_full_jitter_grows_to_the_cap_and_stays_spread():
    backoff = Backoff(base_s=1.0, cap_s=300.0, uniform=random.Random(1).uniform)
    delays = [backoff.next_delay() for _ in range(40)]
    assert all(0 <= d <= 300 for d in delays)
    assert max(delays[:3]) <= 4.0  # the first retries are quick
    assert max(delays[-10:]) > 100  # later ones use the whole window up to the cap


def test_retry_after_is_obeyed_and_a_fleet_is_spread_over_as_long_again():
    returns = []
    for seed in range(1000):
        backoff = Backoff(uniform=random.Random(seed).uniform)
        returns.append(backoff.next_delay(retry_after_s=30))
    assert min(returns) >= 30
    assert max(returns) <= 60
    in_first_second = sum(1 for r in returns if r < 31)
    assert in_first_second < 100  # not the whole fleet at once


def test_a_reset_starts_again_from_the_base():
    backoff = Backoff(base_s=1.0, cap_s=300.0, uniform=lambda a, b: b)
    for _ in range(12):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0
