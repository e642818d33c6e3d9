"""Every page of the evaluator rendered with hostile cases, and the checks a 70-year-old's
eyes would make, read from what the screen code recorded of each text it drew."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pygame

from device.flow.mode import Mode
from device.flow.rating_flow import Phase, rows_for
from device.record.rating import Case, Level, Staff, Theme, ThemeItem
from device.record.tag_catalog import Tag
from device.screen.contrast import MINIMUM, ratio
from device.screen.fonts import FontChain
from device.screen.layout import BODY_PX, LABEL_PX, LARGE
from device.screen.pages import Screen, ScreenView
from device.screen.texts import Texts
from device.screen.widgets import DrawnText

RARE_NAME = "𠮷䶮𬌗"  # CJK Extensions B, A and E
LONG_NAME = "关于城镇职工基本养老保险关系转移接续及个人账户储存额跨省转移并办理𠮷䶮退休待遇申领事"
assert len(LONG_NAME) == 42
STAFF = {"pro_manager_no": "0733", "pro_manager": RARE_NAME}
BATCH = tuple(f"HD202611210009{n:02d}" for n in range(11, 21))
THEME = Theme(
    "YJS-0099",
    "企业开办及员工参保登记、住房公积金缴存登记一件事𠮷",
    tuple(
        ThemeItem(f"HD2026112100093{i}", name)
        for i, name in enumerate(
            [
                "企业设立登记（含名称自主申报及经营范围规范化表述）",
                "公章刻制备案及电子印章同步免费发放",
                "首次申领增值税专用发票及税控设备发放",
                "员工社会保险参保登记及𠮷䶮医疗保险参保",
                "住房公积金单位缴存登记及个人账户设立",
                "银行预约开户及基本存款账户信息备案",
            ]
        )
    ),
)
TAG_LABELS = [
    "推诿扯皮",
    "服务态度差",
    "多次跑腿",
    "办事效率低",
    "要求不合理材料",
    "排队时间过长",
    "系统故障无法办理",
    "未按承诺时限办结",
    "办事指南不清晰",
    "政策解释不清",
    "窗口人员不在岗",
    "收费不透明",
    "材料要求多",
    "预约难",
    "环境嘈杂",
]
TAGS = tuple(Tag(f"T{n:02d}", label) for n, label in enumerate(TAG_LABELS))
assert len(TAGS) == 15

KINDS: dict[str, Case] = {
    "single": Case("HD20261121000901", "T", LONG_NAME, **STAFF),
    "intake": Case("HD20261121000902", "T", LONG_NAME, pro_status=2, **STAFF),
    "indicators": Case("HD20261121000903", "T", LONG_NAME, indicators=True, **STAFF),
    "batch": Case("HD20261121000911", "T", LONG_NAME, batch_project_nos=BATCH, **STAFF),
    "theme": Case("HD20261121000931", "T", "开办企业", theme=THEME, **STAFF),
    "self_service": Case("HD20261121000941", "T", LONG_NAME, terminal_no="ZZ-0031"),
}
MARKS = {"keypad_connected": False, "clock_synced": False, "backlog": 7}


@dataclass(frozen=True)
class Shot:
    """One page as drawn: what it is called, the view, and every text drawn."""

    name: str
    view: ScreenView
    texts: tuple[DrawnText, ...]


def minimums(large: bool) -> tuple[int, int]:
    k = LARGE if large else 1.0
    return math.ceil(BODY_PX * k), math.ceil(LABEL_PX * k)


def views() -> Iterator[tuple[str, ScreenView]]:
    """Each page and kind of case, with staff marks that must not reach the citizen."""
    common = {"window_no": "12", "hall_code": "H01", **MARKS}
    yield "paused", ScreenView(Phase.PAUSED, **common)
    yield "idle", ScreenView(Phase.IDLE, staff=Staff("0733", RARE_NAME), **common)
    yield (
        "idle-self-service",
        ScreenView(Phase.IDLE, mode="self_service", terminal_no="ZZ-0031", **common),
    )
    for kind, case in KINDS.items():
        mode = "self_service" if kind == "self_service" else "window"
        rows = rows_for(case)
        view = ScreenView(
            Phase.RATING,
            mode=mode,
            case=case,
            rows=rows,
            focus_row=rows[0] if len(rows) > 1 and mode == "window" else None,
            seconds_left=27,
            seconds_total=30,
            terminal_no="ZZ-0031" if mode == "self_service" else None,
            **common,
        )
        yield f"rating-{kind}", view
    case = KINDS["single"]
    yield (
        "reasons",
        ScreenView(
            Phase.REASONS,
            case=case,
            chosen=Level.VERY_DISSATISFIED,
            tags=TAGS,
            seconds_left=52,
            seconds_total=60,
            **common,
        ),
    )
    yield (  # a reason ticked on the group shown, 提交 lit
        "reasons-chosen",
        ScreenView(
            Phase.REASONS,
            case=case,
            chosen=Level.VERY_DISSATISFIED,
            tags=TAGS,
            selected_tags=(TAGS[1].code,),
            seconds_left=40,
            seconds_total=60,
            **common,
        ),
    )
    yield (  # 提交 pressed with none chosen: the page says to choose first
        "reasons-asked",
        ScreenView(
            Phase.REASONS,
            case=case,
            chosen=Level.DISSATISFIED,
            tags=TAGS,
            asked_for_reason=True,
            seconds_left=31,
            seconds_total=60,
            **common,
        ),
    )
    yield (  # a touch-only terminal: no key badges, the touch hint
        "reasons-touch-only",
        ScreenView(
            Phase.REASONS,
            mode="self_service",
            case=case,
            chosen=Level.VERY_DISSATISFIED,
            tags=TAGS,
            seconds_left=52,
            seconds_total=60,
            **common,
        ),
    )
    yield "thanks", ScreenView(Phase.THANKS, case=case, chosen=Level.SATISFIED, **common)
    yield (
        "rate-later",
        ScreenView(Phase.RATE_LATER, case=case, qr_url="https://hcp.example/m?p=1", **common),
    )
    yield "out-of-service", ScreenView(Phase.OUT_OF_SERVICE, problem="oos_ledger", **common)


def turns(view: ScreenView, screen: Screen) -> Iterator[ScreenView]:
    """The view and every other page of it: rows, tags, a batch's case numbers."""
    yield view
    if view.phase is Phase.RATING and len(view.rows) > 1:
        per = screen.layout.rows_per_page
        for first in range(per, len(view.rows), per):
            yield replace(view, focus_index=first)
    if view.phase is Phase.REASONS:
        for page in range(1, screen.layout.tag_page_count(len(view.tags))):
            yield replace(view, tag_page=page)
    if view.case is not None and view.case.batch_project_nos:
        first = screen.paint.drawn
        for turn in range(1, len(view.case.batch_project_nos)):
            screen.draw(replace(view, batch_turn=turn))
            if screen.paint.drawn == first:
                break  # back to the first page of case numbers
            yield replace(view, batch_turn=turn)


def render_all(
    font: FontChain, size: tuple[int, int], large: bool, language: str
) -> Iterator[Shot]:
    surface = pygame.Surface(size)
    screen = Screen(surface, font, Texts(language), large)
    for name, view in views():
        screen.draw(view)
        for n, turned in enumerate(turns(view, screen)):
            screen.draw(turned)
            yield Shot(f"{name}#{n}", turned, tuple(screen.paint.drawn))


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _within(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    return ox <= ix and oy <= iy and ix + iw <= ox + ow and iy + ih <= oy + oh


def problems(shot: Shot, size: tuple[int, int], large: bool) -> list[str]:
    """What is wrong with one drawn page: small, clipped, overlapping or faint text."""
    body, label = minimums(large)
    found = []
    page = (0, 0, *size)
    for t in shot.texts:
        least = label if t.role in ("level", "badge") else body
        if t.size < least:
            found.append(f"{t.text!r} is {t.size} px (< {least})")
        if not _within(t.rect, page):
            found.append(f"{t.text!r} at {t.rect} leaves the screen")
        if t.box is not None and not _within(t.rect, t.box):
            found.append(f"{t.text!r} at {t.rect} leaves its button {t.box}")
        if not t.bg:
            found.append(f"{t.text!r}: nothing measured behind it")
        for bg in t.bg:
            if ratio(t.fg, bg) < MINIMUM:
                found.append(f"{t.text!r}: contrast {ratio(t.fg, bg):.2f} on {bg}")
    for i, a in enumerate(shot.texts):
        for b in shot.texts[i + 1 :]:
            if _overlap(a.rect, b.rect):
                found.append(f"{a.text!r} {a.rect} overlaps {b.text!r} {b.rect}")
    levels = {t.size for t in shot.texts if t.role == "level"}
    if len(levels) > 1:
        found.append(f"level labels in several sizes: {sorted(levels)}")
    return [f"{shot.name}: {p}" for p in found]


def badge_problems(shot: Shot) -> list[str]:
    """On a keypad terminal's reasons page: a key badge for 重新选择 (1), each reason shown
    (2, 3), 换一组 (4) when there are more and 提交 (5), left to right like the keys; none on
    a touch-only terminal."""
    badges = [t for t in shot.texts if t.role == "badge"]
    if not Mode(shot.view.mode).takes_keys:
        return [f"{shot.name}: key badges on a touch-only terminal"] if badges else []
    found = [t.text for t in sorted(badges, key=lambda t: (t.rect[1] > 0, t.rect[0]))]
    numbers = sorted(int(n) for n in found)
    if numbers[0] != 1 or numbers[-1] != 5 or not {2}.issubset(numbers):
        return [f"{shot.name}: key badges {found}"]
    tags = sorted((t for t in badges if t.text in "23"), key=lambda t: t.rect[0])
    actions = sorted((t for t in badges if t.text in "145"), key=lambda t: t.rect[0])
    order = [t.text for t in tags] + [t.text for t in actions]
    if [t.text for t in tags] != sorted(t.text for t in tags) or [
        t.text for t in actions
    ] != sorted(t.text for t in actions):
        return [f"{shot.name}: key badges out of left-to-right order {order}"]
    return []
