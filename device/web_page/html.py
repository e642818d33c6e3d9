"""The rating page's HTML: a shell with the five level buttons (label, face, colour), places
for the case, the rows, the reasons, thanks and rate-later, filled by `rate.js` from the page's
JSON. Pure rendering; every value escaped; nothing loaded from outside the device.
"""

from __future__ import annotations

import json
from html import escape

from device.record.rating import Level
from device.screen.palette import LEVEL_COLOURS, dimmed, hex_of
from device.screen.texts import Texts
from device.web_page.page_view import levels_json

ASSET_BASE = "/rate/assets"
# Only the device's own script, style and font; no frames around the page; no forms.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
HTML_LANG = {"zh-Hans": "zh-Hans", "zh-Hant": "zh-Hant", "en": "en"}

_EYES = '<circle cx="35" cy="40" r="6"/><circle cx="65" cy="40" r="6"/>'
_MOUTHS = {
    Level.VERY_SATISFIED: '<path d="M27 56 A23 23 0 0 0 73 56 Z"/>',
    Level.SATISFIED: '<path class="line" d="M31 60 Q50 78 69 60"/>',
    Level.BASICALLY_SATISFIED: '<path class="line" d="M33 66 L67 66"/>',
    Level.DISSATISFIED: '<path class="line" d="M31 73 Q50 56 69 73"/>',
    Level.VERY_DISSATISFIED: (
        '<path class="line" d="M31 75 Q50 58 69 75"/>'
        '<path class="line" d="M20 24 L40 33"/><path class="line" d="M80 24 L60 33"/>'
    ),
}


def face_svg(level: Level) -> str:
    """A face for the level, as on the window's buttons: never colour alone."""
    return (
        '<svg class="face" viewBox="0 0 100 100" aria-hidden="true">'
        '<circle class="line" cx="50" cy="50" r="44"/>'
        f"{_EYES}{_MOUTHS[level]}</svg>"
    )


def level_colours_css() -> str:
    """The five buttons' colours, the window's own (`device.screen.palette`); a level not
    chosen once another is fades as on the window, so the ink on it stays readable."""
    chosen = "".join(
        f".level.l{item['level']}{{background:{item['colour']}}}" for item in levels_json(Texts())
    )
    faded = "".join(
        f".level.l{int(level)}.dim{{background:{hex_of(dimmed(colour))}}}"
        for level, colour in LEVEL_COLOURS.items()
    )
    return chosen + faded


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def rating_page(
    page_id: str, token: str, return_url: str | None, texts: Texts, font_version: str
) -> str:
    buttons = "".join(
        f'<button type="button" class="level l{item["level"]}" data-level="{item["level"]}">'
        f'{face_svg(Level(item["level"]))}<span class="label">{esc(item["label"])}</span></button>'
        for item in levels_json(texts)
    )
    settings = json.dumps(
        {
            "page": page_id,
            "token": token,
            "returnUrl": return_url,
            "base": "/rate",
            "elsewhere": texts.ui("web_elsewhere"),
            "offline": texts.ui("web_offline"),
            "seconds": texts.ui("seconds_left"),
        },
        ensure_ascii=True,
    )
    lang = HTML_LANG[texts.language]
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1, '
        'maximum-scale=1, user-scalable=no">'
        f"<title>{esc(texts.ui('invite'))}</title>"
        f'<link rel="stylesheet" href="{ASSET_BASE}/rate.css?v={esc(font_version)}">'
        f'<meta name="rate-page" content="{esc(settings)}">'
        "</head><body>"
        '<main id="page" data-state="waiting">'
        '<section id="message" class="panel"><h1 id="message-title"></h1>'
        '<p id="message-hint"></p>'
        f'<button type="button" id="back" class="action" hidden>{esc(texts.ui("web_back"))}'
        "</button></section>"
        '<section id="rating" hidden><header><h1 id="invite"></h1>'
        '<span id="seconds" class="seconds"></span></header>'
        '<div class="bar"><div id="bar-fill"></div></div>'
        '<ul id="case" class="case"></ul>'
        f'<div id="single" class="levels">{buttons}</div>'
        '<div id="rows"></div>'
        f'<button type="button" id="submit-rows" class="action" hidden>'
        f"{esc(texts.ui('submit'))}</button></section>"
        '<section id="reasons" hidden><header><h1 id="reasons-title"></h1>'
        '<span id="reasons-seconds" class="seconds"></span></header>'
        '<p id="reasons-hint" class="hint"></p><div id="tags" class="tags"></div>'
        '<footer><button type="button" id="choose-again" class="action"></button>'
        f'<button type="button" id="submit" class="action">{esc(texts.ui("submit"))}'
        "</button></footer></section>"
        '<section id="rate-later" class="panel" hidden><h1 id="later-title"></h1>'
        '<img id="code" alt=""><p id="later-hint"></p></section>'
        "</main>"
        f'<script src="{ASSET_BASE}/rate.js?v={esc(font_version)}"></script>'
        "</body></html>\n"
    )


def refusal_page(title: str, texts: Texts) -> str:
    """A plain page saying why the rating page was not opened (no script at all)."""
    lang = HTML_LANG[texts.language]
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(title)}</title><link rel="stylesheet" href="{ASSET_BASE}/rate.css">'
        f'</head><body><main id="page" data-state="refused"><section class="panel">'
        f"<h1>{esc(title)}</h1></section></main></body></html>\n"
    )
