"""The keypad's part in a rating: which level each key gives, which keys are lit, and when
the buzzer sounds.

Pure decisions; `device.keypad.link` sends them to the board. A private press (the default)
lights and beeps the same whatever the level, so the staff member across the counter cannot
read the rater's choice off the keypad.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from device.flow.mode import Mode
from device.flow.rating_flow import Phase
from device.flow.reason_keys import lit_reason_keys
from device.record.rating import Level


@dataclass(frozen=True)
class Lights:
    """What the keypad shows: every key lit (inviting a press), one key lit, the keys named
    in `keys` lit, or all dark."""

    every: bool = False
    key: int | None = None  # 1 = leftmost
    keys: tuple[int, ...] = ()  # on the reasons page: the keys that do something


INVITING = Lights(every=True)
DARK = Lights()


def level_for_key(key: int, key_levels: Sequence[int], mode: Mode) -> Level | None:
    """The level key `key` gives, or None where keys do not count (a touch-only terminal)."""
    if not mode.takes_keys:
        return None
    return Level(key_levels[key - 1])


def lights_for(
    phase: Phase,
    mode: Mode,
    chosen: Level | None,
    key_levels: Sequence[int],
    *,
    private: bool = False,
) -> Lights:
    """All keys lit while a rating is awaited; while the rater is thanked, dark when the press
    is private, else the chosen level's key; dark otherwise."""
    if phase is Phase.RATING and mode.takes_keys:
        return INVITING
    if phase is Phase.THANKS and chosen is not None and not private:
        return Lights(key=list(key_levels).index(int(chosen)) + 1)
    return DARK


def lights_on_reasons(mode: Mode, tags: int, group: int, any_chosen: bool) -> Lights:
    """On the reasons page the keys that do something are lit (none on a touch-only
    terminal)."""
    if not mode.takes_keys:
        return DARK
    return Lights(keys=lit_reason_keys(tags, group, any_chosen))


def beeps_after(before: Phase, after: Phase, *, private: bool) -> bool:
    """Whether the buzzer sounds as the rater's press (or submit) moves the flow from
    `before` to `after`.

    Private: once, when a press ends the rating page, whether it leads to the reasons page (a
    bad level), to storing (a good one) or out of service (the store failed), so the sound
    says nothing about the level. Not private: when the rating is stored and thanked.
    """
    if private:
        return before is Phase.RATING and after is not Phase.RATING
    return before is not Phase.THANKS and after is Phase.THANKS
