"""What each of the five physical keys does on the reasons page, and which of them are lit.

Pure. Keys are numbered 1-5 left to right whatever level they give on the rating page: key 1
is 重新选择, keys 2 and 3 toggle the two reasons of the group on screen, key 4 turns to the
next group (wrapping) and key 5 submits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

TAGS_PER_GROUP = 2  # reasons shown, and toggled by keys, at a time
CHOOSE_AGAIN_KEY = 1
FIRST_TAG_KEY = 2
NEXT_GROUP_KEY = 4
SUBMIT_KEY = 5


class ReasonAction(Enum):
    CHOOSE_AGAIN = "choose_again"
    TOGGLE = "toggle"
    NEXT_GROUP = "next_group"
    SUBMIT = "submit"


@dataclass(frozen=True)
class ReasonKey:
    """A key's meaning on the reasons page; `tag` is the index in the whole list to toggle."""

    action: ReasonAction
    tag: int | None = None


def group_count(tags: int) -> int:
    return max(1, -(-tags // TAGS_PER_GROUP))


def shown_in_group(tags: int, group: int) -> int:
    """How many reasons group *group* shows (the last one may hold fewer)."""
    return max(0, min(TAGS_PER_GROUP, tags - group * TAGS_PER_GROUP))


def reason_key(key: int, tags: int, group: int) -> ReasonKey | None:
    """What key *key* does with *tags* reasons offered and group *group* on screen."""
    if key == CHOOSE_AGAIN_KEY:
        return ReasonKey(ReasonAction.CHOOSE_AGAIN)
    if key == NEXT_GROUP_KEY:
        return ReasonKey(ReasonAction.NEXT_GROUP) if group_count(tags) > 1 else None
    if key == SUBMIT_KEY:
        return ReasonKey(ReasonAction.SUBMIT)
    slot = key - FIRST_TAG_KEY
    if 0 <= slot < shown_in_group(tags, group):
        return ReasonKey(ReasonAction.TOGGLE, group * TAGS_PER_GROUP + slot)
    return None


def lit_reason_keys(tags: int, group: int, any_chosen: bool) -> tuple[int, ...]:
    """The keys that do something now: 重新选择, the shown reasons, 换一组 when there is
    another group, 提交 once a reason is chosen."""
    keys = [CHOOSE_AGAIN_KEY]
    keys += [FIRST_TAG_KEY + i for i in range(shown_in_group(tags, group))]
    if group_count(tags) > 1:
        keys.append(NEXT_GROUP_KEY)
    if any_chosen:
        keys.append(SUBMIT_KEY)
    return tuple(keys)
