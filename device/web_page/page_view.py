"""What the rating page in the browser shows, as the JSON its script reads: built from the same
view the pygame window draws, with every text already in the page's language.

Pure. Unlike the window, the browser scrolls: every row and every reason is listed at once
(each reachable with one tap), and a batch lists all its case numbers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from device.flow.mode import Mode
from device.flow.rating_flow import Phase
from device.screen.layout import BUTTON_ORDER
from device.screen.palette import LEVEL_COLOURS, hex_of
from device.screen.texts import Texts
from device.screen.view import ScreenView


class PageState(StrEnum):
    """What the page shows; the flow's phase while its case is on the flow, else why not."""

    WAITING = "waiting"  # pushed, not yet taken by the main loop
    RATING = "rating"
    REASONS = "reasons"
    STORING = "storing"
    THANKS = "thanks"
    RATE_LATER = "rate_later"
    RATED = "rated"  # the case was rated; the page is over
    ENDED = "ended"  # the case left unrated (timeout, replaced, cancelled, …)
    OUT_OF_SERVICE = "out_of_service"


ON_FLOW = {
    Phase.RATING: PageState.RATING,
    Phase.REASONS: PageState.REASONS,
    Phase.STORING: PageState.STORING,
    Phase.THANKS: PageState.THANKS,
    Phase.RATE_LATER: PageState.RATE_LATER,
    Phase.OUT_OF_SERVICE: PageState.OUT_OF_SERVICE,
}
OVER = (PageState.RATED, PageState.ENDED, PageState.OUT_OF_SERVICE)


def state_json(
    state: PageState, version: int, view: ScreenView | None, texts: Texts
) -> dict[str, Any]:
    """The page's JSON: its state, the texts it needs, and the case while it is on the flow."""
    body: dict[str, Any] = {
        "version": version,
        "state": state.value,
        "over": state in OVER,
        "texts": _fixed_texts(texts, state),
    }
    if view is not None and view.case is not None and state in ON_FLOW.values():
        body["case"] = _case(view, texts)
        body["rows"] = _rows(view, texts)
        body["secondsLeft"] = view.seconds_left
        body["secondsTotal"] = view.seconds_total
        body["reasons"] = _reasons(view, texts) if state is PageState.REASONS else None
        body["hasCode"] = state is PageState.RATE_LATER and view.qr_url is not None
    if view is not None and view.problem is not None and state is PageState.OUT_OF_SERVICE:
        body["texts"]["problem"] = texts.ui(view.problem.value)
    return body


def levels_json(texts: Texts) -> list[dict[str, Any]]:
    """The five buttons, best first (as on the window): label (with the window's break
    points: a zero-width space in Chinese, a soft hyphen in English), colour, value."""
    return [
        {
            "level": int(level),
            "label": texts.button_label(level),
            "colour": hex_of(LEVEL_COLOURS[level]),
        }
        for level in BUTTON_ORDER
    ]


def _fixed_texts(texts: Texts, state: PageState) -> dict[str, str]:
    words = {
        PageState.WAITING: ("web_waiting", ""),
        PageState.RATED: ("web_rated", ""),
        PageState.ENDED: ("web_ended", "web_ended_hint"),
        PageState.OUT_OF_SERVICE: ("out_of_service", ""),
        PageState.THANKS: ("thanks", ""),
        PageState.RATE_LATER: ("rate_later_title", "rate_later_hint"),
    }
    title, hint = words.get(state, ("", ""))
    return {
        "title": texts.ui(title) if title else "",
        "hint": texts.ui(hint) if hint else "",
        "back": texts.ui("web_back"),
    }


def _case(view: ScreenView, texts: Texts) -> dict[str, Any]:
    case = view.case
    assert case is not None
    lines: list[dict[str, str]] = []
    if case.theme is not None:
        lines.append({"role": "item", "text": f"{texts.ui('theme')}：{case.theme.theme_name}"})
    else:
        lines.append({"role": "item", "text": f"{texts.ui('task_name')}：{case.task_name}"})
    if case.batch_project_nos:
        numbers = "、".join(case.batch_project_nos)
        batch = texts.ui("batch", n=len(case.batch_project_nos))
        lines.append({"role": "case_no", "text": f"{batch}：{numbers}"})
    else:
        lines.append({"role": "case_no", "text": f"{texts.ui('project_no')}：{case.project_no}"})
    terminal = case.terminal_no or view.terminal_no
    if view.mode is Mode.SELF_SERVICE and terminal:
        lines.append({"role": "terminal", "text": f"{texts.ui('terminal_no')}：{terminal}"})
    invite = texts.ui("invite_intake" if case.intake_only else "invite")
    return {"title": invite, "lines": lines, "projectNo": case.project_no}


def _rows(view: ScreenView, texts: Texts) -> list[dict[str, Any]]:
    case = view.case
    assert case is not None
    rows = []
    for row in view.rows:
        if row.startswith("item:") and case.theme is not None:
            name = case.theme.items[int(row[5:])].task_name
        else:
            name = texts.ui(row)
        level = view.levels.get(row)
        rows.append({"id": row, "name": name, "level": int(level) if level else None})
    return rows


def _reasons(view: ScreenView, texts: Texts) -> dict[str, Any]:
    title = (
        texts.ui("reasons_title_private")
        if view.chosen is None
        else texts.ui("reasons_title", level=texts.level(view.chosen))
    )
    return {
        "title": title,
        "hint": texts.ui("need_reason_web" if view.asked_for_reason else "reasons_hint"),
        "asked": view.asked_for_reason,
        "chooseAgain": texts.ui("choose_again"),
        "tags": [
            {"code": tag.code, "label": tag.label, "selected": tag.code in view.selected_tags}
            for tag in view.tags
        ],
    }
