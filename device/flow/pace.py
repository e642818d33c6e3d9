"""When the main loop may do upkeep and how long it may sleep.

Pure timing decisions. SDL's input is polled (its timed wait busy-polls): 50 times a second
while a rater is on a page, 4 times a second otherwise; countdowns redraw on the second.
"""

from __future__ import annotations

from device.flow.rating_flow import Phase, RatingFlow

RATER_POLL_S = 0.02
IDLE_POLL_S = 0.25
HEALTH_EVERY_S = 10.0
RATER_PHASES = (Phase.RATING, Phase.REASONS)
QUIET = (Phase.PAUSED, Phase.IDLE, Phase.THANKS, Phase.RATE_LATER, Phase.OUT_OF_SERVICE)


def quiet(phase: Phase) -> bool:
    """No rater is mid-rating: checkpoints, health checks and retries may run now."""
    return phase in QUIET


def sleep_s(flow: RatingFlow, now: float, next_health: float) -> float:
    """Until the next deadline, countdown second or input poll, whichever is first."""
    poll = RATER_POLL_S if flow.phase in RATER_PHASES else IDLE_POLL_S
    wake = [next_health, now + poll]
    deadline = flow.next_deadline()
    if deadline is not None:
        wake.append(deadline)
        if flow.seconds_left(now) is not None:
            wake.append(now + 1.0 - ((deadline - now) % 1.0))  # redraw the countdown
    return max(0.001, min(wake) - now)
