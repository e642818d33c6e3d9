"""Rendering any evaluator page to a PNG without a display, from a case file (the local API's
push body), through the same screen code the device runs."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from device.daemon.config import DEFAULT_FONT, FALLBACK_FONTS
from device.flow.rating_flow import OVERALL, Phase, Problem, rows_for
from device.local_api.case_intake import known_mode, parse_case
from device.record import tag_catalog
from device.record.rating import Case, Staff
from device.record.tag_catalog import Tag
from device.screen.pages import ScreenView
from device.screen.texts import Texts

SCREENS = ("paused", "idle", "rating", "reasons", "thanks", "rate_later", "out_of_service")
SAMPLE_STAFF = Staff("0421", "王敏")
SAMPLE_QR = "https://hcp.example.gov.cn/m/rate?p=HD20261121000101&d=hcp-demo&t=1795000000&s=sig"


def view_for(
    screen: str, case: Case | None, mode: str, texts: Texts, tags: tuple[Tag, ...] | None = None
) -> ScreenView:
    """A representative view of *screen* for *case* (a rating already pressed where needed;
    no reason pre-selected)."""
    phase = Phase(screen)
    staff = SAMPLE_STAFF if mode == "window" else None
    common: dict[str, Any] = {
        "mode": mode,
        "staff": staff,
        "window_no": "12",
        "hall_code": "H01",
        "terminal_no": "ZZ-0031" if mode == "self_service" else None,
    }
    rows = rows_for(case) if case else (OVERALL,)
    if phase is Phase.RATING:
        return ScreenView(
            phase,
            case=case,
            rows=rows,
            seconds_left=27,
            seconds_total=30,
            focus_row=rows[0] if len(rows) > 1 else None,
            **common,
        )
    if phase is Phase.REASONS:
        offered = tags if tags is not None else tag_catalog.shipped_default().for_level(2)
        return ScreenView(
            phase,
            case=case,
            chosen=None,  # as a device shows it by default: the private press names no level
            tags=offered,
            seconds_left=52,
            seconds_total=60,
            **common,
        )
    if phase is Phase.THANKS:
        return ScreenView(phase, case=case, chosen=None, **common)  # private: no level
    if phase is Phase.RATE_LATER:
        return ScreenView(phase, case=case, qr_url=SAMPLE_QR, **common)
    if phase is Phase.OUT_OF_SERVICE:
        return ScreenView(phase, problem=Problem.DISK, **common)
    if phase is Phase.PAUSED:
        return ScreenView(phase, **{**common, "staff": None})
    return ScreenView(phase, **common)


def render(
    screen: str,
    case_body: dict[str, Any] | None,
    out: Path,
    *,
    size: tuple[int, int],
    mode: str = "window",
    language: str = "zh-Hans",
    large_type: bool = False,
    font_path: str = DEFAULT_FONT,
    changes: dict[str, Any] | None = None,
) -> Path:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame  # noqa: PLC0415 (after the video driver is chosen)

    from device.screen.fonts import load_font  # noqa: PLC0415
    from device.screen.pages import Screen  # noqa: PLC0415

    if screen not in SCREENS:
        raise ValueError(f"screen must be one of {', '.join(SCREENS)}")
    texts = Texts(language)
    case = parse_case(case_body, known_mode(mode)) if case_body is not None else None
    if case is not None and mode == "window" and case.pro_manager_no is None:
        case = replace(case, pro_manager_no=SAMPLE_STAFF.number, pro_manager=SAMPLE_STAFF.name)
    pygame.display.init()
    try:
        strings = [*texts.all_strings(), *tag_catalog.shipped_default().labels()]
        font = load_font(font_path, strings, FALLBACK_FONTS)
        surface = pygame.Surface(size)
        view = replace(view_for(screen, case, mode, texts), **(changes or {}))
        Screen(surface, font, texts, large_type).draw(view)
        out.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(surface, str(out))
    finally:
        pygame.display.quit()
    return out


def load_case(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
