"""From the state machine to what is shown and reported, and from a touch to what it meant.

Pure: the screen's view, the local API's status and touch hit-testing, given the flow, the
layout and the facts the main loop knows (keypad, clock, health, last rating).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from device.evaluator.health import Health
from device.flow.mode import Mode
from device.flow.rating_flow import OVERALL, Phase, Problem, RatingFlow
from device.flow.reason_keys import group_count
from device.record.rating import Level, Staff
from device.record.tag_catalog import Tag
from device.screen.layout import Layout, inside
from device.screen.view import ScreenView


@dataclass(frozen=True)
class Facts:
    """What the main loop knows besides the flow."""

    mode: Mode
    keypad_connected: bool | None
    clock_synced: bool
    health: Health
    rated: int
    last_seq: int
    last_evaluation_id: str | None
    window_no: str | None
    hall_code: str | None
    terminal_no: str | None
    missing_glyphs: int = 0  # characters of cases drawn as the placeholder since start


@dataclass(frozen=True)
class LevelTouched:
    """A level button: for the one row, or for the row named."""

    level: Level
    row: str | None = None


@dataclass(frozen=True)
class TagTouched:
    """A reason tag on the reasons page, by its code."""

    tag: str


@dataclass(frozen=True)
class SubmitTouched:
    """The 提交 button."""


@dataclass(frozen=True)
class PageTouched:
    """上一页/下一页 (the first row of the rating page to show) or 换一组 (the group of
    reasons to show)."""

    page: int


@dataclass(frozen=True)
class ChooseAgainTouched:
    """重新选择 on the reasons page: back to the rating page."""


Touch = LevelTouched | TagTouched | SubmitTouched | PageTouched | ChooseAgainTouched

BATCH_TURN_S = 3.0  # a batch's case numbers that do not fit turn this often: ten pages in 30 s


@dataclass(frozen=True)
class Status:
    """What the evaluator reports of itself; `as_json()` is the local API's `Status` object."""

    phase: Phase
    mode: Mode
    project_no: str | None
    staff: Staff | None
    keypad_connected: bool | None
    clock_synced: bool
    backlog: int
    rated: int
    last_seq: int
    last_evaluation_id: str | None
    problem: Problem | None  # set only while out of service
    missing_glyphs: int = 0  # characters of cases drawn as the placeholder since start

    def as_json(self) -> dict[str, Any]:
        staff = self.staff
        return {
            "phase": self.phase.value,
            "mode": self.mode.value,
            "projectNo": self.project_no,
            "staff": {"proManagerNo": staff.number, "proManager": staff.name} if staff else None,
            "keypadConnected": self.keypad_connected,
            "clockSynced": self.clock_synced,
            "backlog": self.backlog,
            "ratedSinceStart": self.rated,
            "lastSeq": self.last_seq,
            "lastEvaluationId": self.last_evaluation_id,
            "outOfService": self.problem.value if self.problem is not None else None,
            "missingGlyphs": self.missing_glyphs,
        }


def offered_tags(flow: RatingFlow, tags_for: Any) -> tuple[Tag, ...]:
    return tags_for(flow.chosen) if flow.chosen is not None else ()


def touch_at(
    flow: RatingFlow, layout: Layout, offered: tuple[Tag, ...], x: int, y: int
) -> Touch | None:
    page = flow.page
    if page is None or flow.phase not in (Phase.RATING, Phase.REASONS):
        return None
    if flow.phase is Phase.RATING and not page.multi_row:
        level = layout.button_at(x, y)
        return LevelTouched(level) if level is not None else None
    if flow.phase is Phase.RATING:
        per = layout.rows_per_page
        shown = page.focus // per
        hit = layout.row_button_at(page.rows, x, y, shown)
        if hit is not None:
            return LevelTouched(hit[1], row=hit[0])
        turn = _turn(layout, shown, layout.row_page_count(len(page.rows)), x, y)
        if turn is not None:
            return PageTouched(turn * per)
    if flow.phase is Phase.REASONS:
        return _reasons_touch(flow, layout, offered, x, y)
    if inside(layout.submit_button, x, y):
        return SubmitTouched()
    return None


def _reasons_touch(
    flow: RatingFlow, layout: Layout, offered: tuple[Tag, ...], x: int, y: int
) -> Touch | None:
    """A tag, 重新选择, 换一组 (turning to the next group, the first after the last) or 提交."""
    groups = group_count(len(offered))
    shown = min(flow.tag_page, groups - 1)
    index = layout.tag_at(len(offered), x, y, shown)
    if index is not None:
        return TagTouched(offered[index].code)
    if inside(layout.choose_again_button, x, y):
        return ChooseAgainTouched()
    if groups > 1 and inside(layout.next_group_button, x, y):
        return PageTouched((shown + 1) % groups)
    if inside(layout.submit_button, x, y):
        return SubmitTouched()
    return None


def _turn(layout: Layout, shown: int, pages: int, x: int, y: int) -> int | None:
    """The page a tap on 上一页/下一页 turns to, if it hit one that is shown."""
    if shown > 0 and inside(layout.previous_button, x, y):
        return shown - 1
    if shown < pages - 1 and inside(layout.next_button, x, y):
        return shown + 1
    return None


def screen_view(
    flow: RatingFlow, facts: Facts, now: float, offered: tuple[Tag, ...], qr_url: str | None
) -> ScreenView:
    page = flow.page
    focus = None
    if page is not None and page.multi_row and facts.mode.takes_keys:  # the keypad's row
        focus = page.rows[page.focus]
    total = {Phase.RATING: flow.timing.rating_s, Phase.REASONS: flow.timing.reasons_s}
    return ScreenView(
        phase=flow.phase,
        mode=facts.mode,
        case=flow.case,
        rows=page.rows if page else (OVERALL,),
        levels=dict(page.levels) if page else {},
        focus_row=focus,
        focus_index=page.focus if page else 0,
        tag_page=flow.tag_page,
        asked_for_reason=flow.asked_for_reason,
        batch_turn=int((now - page.shown_at) // BATCH_TURN_S) if page else 0,
        seconds_total=int(total[flow.phase]) if flow.phase in total else None,
        chosen=flow.chosen,
        tags=offered,
        selected_tags=flow.tags,
        seconds_left=flow.seconds_left(now),
        staff=flow.staff,
        keypad_connected=facts.keypad_connected,
        clock_synced=facts.clock_synced,
        backlog=facts.health.shown_backlog,
        window_no=facts.window_no,
        hall_code=facts.hall_code,
        terminal_no=facts.terminal_no,
        problem=flow.problem,
        qr_url=qr_url,
    )


def status_of(flow: RatingFlow, facts: Facts) -> Status:
    return Status(
        phase=flow.phase,
        mode=facts.mode,
        project_no=flow.case.project_no if flow.case else None,
        staff=flow.staff,
        keypad_connected=facts.keypad_connected,
        clock_synced=facts.clock_synced,
        backlog=facts.health.backlog,
        rated=facts.rated,
        last_seq=facts.last_seq,
        last_evaluation_id=facts.last_evaluation_id,
        problem=flow.problem if flow.phase is Phase.OUT_OF_SERVICE else None,
        missing_glyphs=facts.missing_glyphs,
    )
