"""What a page shows, as plain data: the one view both front ends draw from (the pygame
window and the rating page in a browser). Pure: no pygame here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from device.flow.mode import Mode
from device.flow.rating_flow import OVERALL, Phase, Problem
from device.record.rating import Case, Level, Staff
from device.record.tag_catalog import Tag


@dataclass(frozen=True)
class ScreenView:
    phase: Phase
    mode: Mode = Mode.WINDOW
    case: Case | None = None
    rows: tuple[str, ...] = (OVERALL,)
    levels: dict[str, Level] = field(default_factory=dict)
    focus_row: str | None = None
    focus_index: int = 0  # the row the keypad rates next; its page of rows is on screen
    chosen: Level | None = None
    tags: tuple[Tag, ...] = ()  # offered on the reasons page
    selected_tags: tuple[str, ...] = ()
    tag_page: int = 0  # the group of reasons on screen
    asked_for_reason: bool = False  # 提交 came with no reason chosen: the page says so
    batch_turn: int = 0  # a batch's case numbers turn page by page with this counter
    seconds_left: int | None = None
    seconds_total: int | None = None
    staff: Staff | None = None
    keypad_connected: bool | None = None  # None: no keypad configured
    clock_synced: bool = True
    backlog: int | None = None  # shown when delivery seems stuck
    window_no: str | None = None
    hall_code: str | None = None
    terminal_no: str | None = None
    problem: Problem | None = None  # its words are looked up where the page is drawn
    qr_url: str | None = None
    page_id: str | None = None  # the browser page showing the case (a web terminal)
