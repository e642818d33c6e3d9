"""The citizen's rating pages: one row of five buttons, rows over pages (indicators, theme
items), and the reasons page with its tags over pages. Text is wrapped or paged, never shrunk.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pygame

from device.flow.mode import Mode
from device.flow.rating_flow import Phase
from device.flow.reason_keys import (
    CHOOSE_AGAIN_KEY,
    FIRST_TAG_KEY,
    NEXT_GROUP_KEY,
    SUBMIT_KEY,
    TAGS_PER_GROUP,
    group_count,
)
from device.record.rating import Case
from device.screen.layout import REASONS_HINT_LINES, Layout, pages_of
from device.screen.texts import Texts
from device.screen.widgets import ACCENT, INK, WARNING, Painter

if TYPE_CHECKING:
    from device.screen.pages import ScreenView

NAME_LINES_SINGLE = 3  # an item name wraps to at most three lines on the single-row page
NAME_LINES_MULTI = 2
ROW_NAME_LINES = 3


@dataclass(frozen=True)
class InfoLine:
    text: str
    role: str  # "item", "case_no", "staff" or "terminal"


def row_names(texts: Texts, view: ScreenView) -> list[str]:
    case = view.case
    names = []
    for name in view.rows:
        if name.startswith("item:") and case is not None and case.theme is not None:
            names.append(case.theme.items[int(name[5:])].task_name)
        else:
            names.append(texts.ui(name))
    return names


def reasons_title(texts: Texts, view: ScreenView) -> str:
    """The reasons page's title: it names the level only where the hall wants it named."""
    if view.chosen is None:
        return texts.ui("reasons_title_private")
    return texts.ui("reasons_title", level=texts.level(view.chosen))


def layout_for(base: Layout, paint: Painter, texts: Texts, view: ScreenView) -> Layout:
    """The page's geometry: how many lines its row names, level labels and case need."""
    width = base.width - 2 * base.margin
    if view.phase is Phase.REASONS:
        title = reasons_title(texts, view)
        lines = len(paint.wrap(title, base.title, base.header(1)[2]))
        return replace(base, reasons_header_lines=min(2, lines))
    if view.case is None or len(view.rows) <= 1:
        return base
    label_lines = max(len(paint.wrap(n, base.body, width)) for n in row_names(texts, view))
    button = (width - 4 * base.gap) // 5
    each = button - 2 * max(6, button // 20)
    button_lines = max(
        len(paint.wrap(texts.button_label(level), base.label, each, 3)) for level in range(1, 6)
    )
    name = _name_line(texts, view.case)
    info = min(NAME_LINES_MULTI, len(paint.wrap(name.text, base.body, width))) + 2
    return replace(
        base,
        row_label_lines=min(ROW_NAME_LINES, label_lines),
        row_button_lines=button_lines,
        multi_info_lines=info,
    )


def _name_line(texts: Texts, case: Case) -> InfoLine:
    if case.theme is not None:
        return InfoLine(f"{texts.ui('theme')}：{case.theme.theme_name}", "item")
    return InfoLine(f"{texts.ui('task_name')}：{case.task_name}", "item")


def _staff_line(texts: Texts, view: ScreenView, case: Case) -> InfoLine | None:
    terminal = case.terminal_no or view.terminal_no
    if view.mode == Mode.SELF_SERVICE and terminal:
        return InfoLine(f"{texts.ui('terminal_no')}：{terminal}", "terminal")
    if case.pro_manager_no:
        staff = f"{texts.ui('staff_no')}：{case.pro_manager_no}"
        if case.pro_manager:
            staff += f"  {texts.ui('staff_name')}：{case.pro_manager}"
        return InfoLine(staff, "staff")
    return None


def batch_lines(
    paint: Painter, texts: Texts, numbers: tuple[str, ...], room: int, turn: int
) -> list[str]:
    """'共 N 件' and the case numbers in at most *room* lines; numbers that do not fit are
    shown page by page, the page turning with *turn*."""
    layout = paint.layout
    width = layout.width - 2 * layout.margin
    size = layout.body

    def pack(head: str, items: tuple[str, ...]) -> list[str]:
        lines, line = [], head
        for n, number in enumerate(items):
            piece = number + ("、" if n < len(items) - 1 else "")
            if paint.width(line + piece, size) > width and line:
                lines.append(line)
                line = ""
            line += piece
        return [*lines, line]

    head = f"{texts.ui('batch', n=len(numbers))}："
    whole = pack(head, numbers)
    if len(whole) <= room:
        return whole
    # paged: find how many numbers a page holds with the page mark in the heading
    longest = texts.ui("list_page", i=99, n=99)
    per = len(numbers)
    while per > 1 and len(pack(head + longest, numbers[:per])) > room:
        per -= 1
    pages = pages_of(len(numbers), per)
    page = turn % pages
    mark = texts.ui("list_page", i=page + 1, n=pages)
    return pack(
        f"{texts.ui('batch', n=len(numbers))}{mark}：", numbers[page * per : (page + 1) * per]
    )


def info_lines(
    paint: Painter, texts: Texts, view: ScreenView, room: int, name_max: int
) -> list[InfoLine]:
    """The case's lines for *room* lines: item name (wrapped), case number(s), staff."""
    case = view.case
    assert case is not None
    layout = paint.layout
    width = layout.width - 2 * layout.margin
    staff = _staff_line(texts, view, case)
    staff_lines = paint.wrap(staff.text, layout.body, width, 2) if staff is not None else []
    name = _name_line(texts, case)
    name_lines = paint.wrap(name.text, layout.body, width)
    number_room = 1
    if case.batch_project_nos:
        number_room = max(1, room - len(staff_lines) - min(len(name_lines), name_max))
    name_room = max(1, min(name_max, room - len(staff_lines) - number_room))
    out = [InfoLine(x, "item") for x in paint.wrap(name.text, layout.body, width, name_room)]
    if case.batch_project_nos:
        numbers = batch_lines(paint, texts, case.batch_project_nos, number_room, view.batch_turn)
        out += [InfoLine(x, "case_no") for x in numbers]
    else:
        out.append(InfoLine(f"{texts.ui('project_no')}：{case.project_no}", "case_no"))
    out += [InfoLine(x, staff.role) for x in staff_lines] if staff else []
    return out


def draw_header(paint: Painter, texts: Texts, view: ScreenView, title: str, lines: int) -> None:
    layout = paint.layout
    x, y, w, _ = layout.header(lines)
    paint.paragraph(title, (x, y), layout.title, INK, w, max_lines=lines, role="title")
    if view.seconds_left is not None:
        paint.countdown(
            layout.countdown_bar(lines),
            view.seconds_left,
            view.seconds_total or max(1, view.seconds_left),
            texts.ui("seconds_left", n=view.seconds_left),
            layout.seconds_box,
            layout.title,
        )


def draw_rating(paint: Painter, texts: Texts, view: ScreenView) -> None:
    case = view.case
    if case is None:
        return
    layout = paint.layout
    draw_header(paint, texts, view, texts.ui("invite_intake" if case.intake_only else "invite"), 1)
    multi = len(view.rows) > 1
    x = layout.margin
    y = layout.content_top()
    if multi:
        lines = info_lines(paint, texts, view, layout.multi_info_lines, NAME_LINES_MULTI)
    else:
        lines = info_lines(paint, texts, view, layout.info_lines, NAME_LINES_SINGLE)
    for line in lines:
        paint.text(line.text, (x, y), layout.body, INK, anchor="topleft", role=line.role)
        y += layout.pitch(layout.body)
    if not multi:
        for level, rect in layout.buttons():
            paint.level_button(level, texts.button_label(level), rect, view.chosen, layout.label)
        return
    _rows(paint, texts, view)


def _rows(paint: Painter, texts: Texts, view: ScreenView) -> None:
    layout = paint.layout
    page = view.focus_index // layout.rows_per_page
    names = dict(zip(view.rows, row_names(texts, view), strict=True))
    for row, label_rect, buttons in layout.rows(view.rows, page):
        colour = ACCENT if row == view.focus_row else INK
        lx, ly, lw, _ = label_rect
        paint.paragraph(
            names[row], (lx, ly), layout.body, colour, lw, layout.row_label_lines, role="row"
        )
        for level, rect in buttons:
            label = texts.button_label(level)
            paint.level_button(level, label, rect, view.levels.get(row), layout.label, face=False)
    footer(paint, texts, page, layout.row_page_count(len(view.rows)))
    paint.action_button(
        texts.ui("submit"), layout.submit_button, "overall" in view.levels, layout.label
    )


def footer(paint: Painter, texts: Texts, page: int, pages: int) -> None:
    """上一页 · page number · 下一页, when there is more than one page."""
    if pages <= 1:
        return
    layout = paint.layout
    paint.action_button(texts.ui("previous"), layout.previous_button, page > 0, layout.label)
    x, y, w, h = layout.page_number_box
    paint.text(
        texts.ui("page", i=page + 1, n=pages),
        (x + w // 2, y + h // 2),
        layout.body,
        INK,
        role="page",
    )
    paint.action_button(texts.ui("next"), layout.next_button, page < pages - 1, layout.label)


def draw_reasons(paint: Painter, texts: Texts, view: ScreenView) -> None:
    """One group of reasons side by side, each with the key that ticks it; 重新选择, 换一组
    and 提交 below, in the order of their keys (1, 4, 5) on a keypad terminal."""
    layout = paint.layout
    lines = layout.reasons_header_lines
    draw_header(paint, texts, view, reasons_title(texts, view), lines)
    keys = Mode(view.mode).takes_keys
    x, y, w, h = layout.hint_box
    if view.asked_for_reason:
        pygame.draw.rect(paint.surface, WARNING, (x, y, w, h), width=3, border_radius=8)
        hint, colour, room = texts.ui("need_reason"), WARNING, w - 2 * layout.gap
        shown = len(paint.wrap(hint, layout.body, room, REASONS_HINT_LINES))
        x, y = x + layout.gap, y + (h - shown * layout.pitch(layout.body)) // 2
    else:
        hint, colour, room = texts.ui("reasons_how" if keys else "reasons_hint"), INK, w
    paint.paragraph(hint, (x, y), layout.body, colour, room, REASONS_HINT_LINES, role="hint")
    groups = group_count(len(view.tags))
    group = min(view.tag_page, groups - 1)
    on_screen = view.tags[group * TAGS_PER_GROUP : (group + 1) * TAGS_PER_GROUP]
    slots = zip(on_screen, layout.tags(len(view.tags), group), strict=True)
    for slot, (tag, rect) in enumerate(slots):
        key = FIRST_TAG_KEY + slot if keys else None
        paint.toggle(tag.label, rect, tag.code in view.selected_tags, layout.heading, key)
    paint.action_button(
        texts.ui("choose_again"),
        layout.choose_again_button,
        True,
        layout.label,
        CHOOSE_AGAIN_KEY if keys else None,
    )
    if groups > 1:
        paint.action_button(
            texts.ui("next_group", i=group + 1, n=groups),
            layout.next_group_button,
            True,
            layout.label,
            NEXT_GROUP_KEY if keys else None,
        )
    paint.action_button(
        texts.ui("submit"),
        layout.submit_button,
        bool(view.selected_tags),
        layout.label,
        SUBMIT_KEY if keys else None,
    )
