"""Regenerate docs/screens.md and its pictures: every page of the evaluator, rendered headless
from the sample cases in docs/cases/ by `haochaping-sim screenshot`'s code.

`python -m simulator.screens_doc [--docs DIR]`
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from device.record import tag_catalog
from simulator.screenshot import load_case, render

# (picture, screen, case file, mode, size, language, large type, what it shows)
SHOTS = [
    (
        "paused",
        "paused",
        None,
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "A window evaluator with no staff signed in takes no case.",
    ),
    (
        "idle",
        "idle",
        None,
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "Idle: the signed-in staff card (photo when given) and the invitation.",
    ),
    (
        "rating",
        "rating",
        "window.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "Rating: item, case number, staff number and name; five buttons (label, face, colour).",
    ),
    (
        "rating-1024",
        "rating",
        "window.json",
        "window",
        (1024, 600),
        "zh-Hans",
        False,
        "The same page at 1024×600.",
    ),
    (
        "rating-intake",
        "rating",
        "intake.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "Intake only (proStatus 2): the rater rates the intake window's service.",
    ),
    (
        "rating-batch",
        "rating",
        "batch.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "Batch: one rating for every case of the batch.",
    ),
    (
        "rating-theme",
        "rating",
        "theme.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "Theme service: overall (required) and each linked item (optional), then 提交.",
    ),
    (
        "rating-indicators",
        "rating",
        "indicators.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "Separate business and service indicators; the keypad rates row after row.",
    ),
    (
        "rating-self-service",
        "rating",
        "self_service.json",
        "self_service",
        (1024, 600),
        "zh-Hans",
        False,
        "Self-service terminal: terminal number instead of staff, touch only.",
    ),
    (
        "reasons",
        "reasons",
        "window.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "After 不满意/非常不满意: the province's tags for that level, chosen by the rater.",
    ),
    (
        "thanks",
        "thanks",
        "window.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "Shown only after the rating is committed to disk.",
    ),
    (
        "rate-later",
        "rate_later",
        "window.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "No press before the timeout: a signed QR code to rate on a phone within 7 days.",
    ),
    (
        "out-of-service",
        "out_of_service",
        None,
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "Storage full, ledger not writable or key missing: no rating is taken.",
    ),
    (
        "rating-zh-hant",
        "rating",
        "window.json",
        "window",
        (800, 480),
        "zh-Hant",
        False,
        "Traditional Chinese.",
    ),
    ("rating-en", "rating", "window.json", "window", (800, 480), "en", False, "English."),
    ("rating-large", "rating", "window.json", "window", (800, 480), "zh-Hans", True, "Large type."),
    (
        "hostile-long-name",
        "rating",
        "hostile-long-name.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "A 42-character item name wraps to two lines at full size; the staff name holds "
        "CJK Extension B/A/E characters (𠮷䶮𬌗), drawn by the fallback fonts.",
    ),
    (
        "hostile-batch-large",
        "rating",
        "hostile-batch.json",
        "window",
        (800, 480),
        "zh-Hans",
        True,
        "A batch of 10 in large type: 共 10 件 and the case numbers, a page at a time "
        "(the list turns every 3 s, so that even ten pages pass within the 30 s rating time).",
    ),
    (
        "hostile-theme",
        "rating",
        "hostile-theme.json",
        "window",
        (800, 480),
        "zh-Hans",
        False,
        "A theme of 6 items with long names: a few rows per page, 上一页/下一页 by touch; "
        "the keypad moves on by itself as it rates row after row.",
    ),
    (
        "hostile-theme-en-large",
        "rating",
        "hostile-theme.json",
        "window",
        (1024, 600),
        "en",
        True,
        "The same in English, large type, 1024×600: long words break at a soft hyphen.",
    ),
    (
        "hostile-long-name-1024-large",
        "rating",
        "hostile-long-name.json",
        "window",
        (1024, 600),
        "zh-Hant",
        True,
        "Traditional Chinese, large type, 1024×600.",
    ),
]


# The keypad-only rater, step by step: (picture, screen, what the view shows, what happened)
_LEVEL1 = tag_catalog.shipped_default().for_level(1)
WALKTHROUGH: list[tuple[str, str, dict[str, Any], str]] = [
    ("keys-1-rating", "rating", {}, "A case is on screen; all five keys are lit."),
    (
        "keys-2-reasons",
        "reasons",
        {"chosen": None, "tags": _LEVEL1},
        "Key 5 (非常不满意) pressed: the reasons page shows the first group of two reasons on "
        "keys 2 and 3; key 1 is 重新选择, key 4 换一组, key 5 提交, each shown by its badge. By "
        "default (the private press) the keypad stays dark, as after a good level, and the "
        "title does not name the level; a hall that turns privacy off gets keys 1–4 lit and 5 "
        "lit once a reason is chosen.",
    ),
    (
        "keys-3-asked",
        "reasons",
        {"chosen": None, "tags": _LEVEL1, "asked_for_reason": True},
        "Key 5 pressed with no reason chosen: nothing is stored; the page says to choose one "
        "first, in the warning colour.",
    ),
    (
        "keys-4-ticked",
        "reasons",
        {
            "chosen": None,
            "tags": _LEVEL1,
            "selected_tags": (_LEVEL1[1].code,),
        },
        "Key 3 ticks the second reason; 提交 lights up on the screen.",
    ),
    (
        "keys-5-second-group",
        "reasons",
        {
            "chosen": None,
            "tags": _LEVEL1,
            "selected_tags": (_LEVEL1[1].code, _LEVEL1[2].code),
            "tag_page": 1,
        },
        "Key 4 turns to the second group (after the last group the first comes again); key 2 "
        "ticks its first reason. Key 5 now stores the rating with exactly these two reasons, "
        "`source` keypad.",
    ),
    (
        "keys-6-rate-later",
        "rate_later",
        {},
        "Had the rater pressed nothing for 60 s, the case would end as `no_reason` (no rating) "
        "and this rate-later code would show for 20 s. Had they pressed key 1 (重新选择), the "
        "bad level would end as `changed` and the rating page of step 1 would come back.",
    ),
]


def walkthrough(docs: Path) -> list[str]:
    """The keypad-only rater's steps, rendered, as markdown lines."""
    lines = [
        "## Keypad-only rater: a bad rating finished with the five keys",
        "",
        "Keys are physical, 1–5 from the left, whatever level they give on the rating page.",
        "",
    ]
    for n, (name, screen, changes, caption) in enumerate(WALKTHROUGH, 1):
        body = load_case(docs / "cases" / "window.json")
        out = docs / "screens" / f"{name}.png"
        render(screen, body, out, size=(800, 480), changes=changes)
        lines += [f"{n}. {caption}", "", f"   ![{name}](screens/{name}.png)", ""]
    return lines


# The rating page in a browser (a web terminal): pictures kept by the browser tests with
# `HAOCHAPING_WEB_SCREENS=docs/screens pytest tests/test_rate_page_browser.py`.
WEB_PAGES = [
    (
        "web-rating-self_service-1080x1920",
        "The rating page, portrait 1080×1920: item name, case "
        "number, terminal number, five buttons with label, face and colour.",
    ),
    (
        "web-reasons-1080x1920",
        "A bad level: every reason at once, 重新选择 and 提交; 提交 with no reason asks for one.",
    ),
    (
        "web-thanks-1080x1920",
        "Thanks, after the ledger committed the rating; then back to the terminal's application.",
    ),
    (
        "web-rating-indicators-1920x1080",
        "Landscape 1920×1080, a case rated on three rows (overall, business, service).",
    ),
    ("web-rows-1920x1080", "The three rows rated; 提交 below them."),
    ("web-rating-batch-1280x800", "Landscape 1280×800, a batch: every case number listed."),
    (
        "web-rated-1280x800",
        "The page opened again after its case was rated: it says so, offers no button and returns.",
    ),
    (
        "web-ended-1080x1920",
        "A page opened after its case ended unrated (here replaced by the "
        "next case): it says so and returns.",
    ),
    (
        "web-elsewhere-1280x800",
        "The page opened again somewhere else: this tab's token is retired, and it says so.",
    ),
    (
        "web-refused-return-1280x800",
        "A return address not allowed at provisioning: no page is opened.",
    ),
    (
        "web-rate-later-1080x1920",
        "Nobody pressed: the rate-later code, then back to the application.",
    ),
]


def web_section() -> list[str]:
    lines = [
        '## The rating page in a browser (self-service terminal, `[display] kind = "web"`)',
        "",
        "Taken by `tests/test_rate_page_browser.py` in headless Chromium with touch emulation",
        "(`HAOCHAPING_WEB_SCREENS=docs/screens` keeps them); see docs/rate-page.md.",
        "",
    ]
    for name, caption in WEB_PAGES:
        lines += [f"### {name}", "", caption, "", f"![{name}](screens/{name}.png)", ""]
    return lines


def appliance_captures() -> list[str]:
    """The section on the pages captured from the appliance image booted in QEMU (not
    rendered here: `./dev vm-test --screens docs/screens` takes them)."""
    return [
        "## On the appliance (captured in QEMU)",
        "",
        "The appliance image (`./dev image`) booted in QEMU with a virtio-gpu at 1024×600:",
        "the evaluator runs on the kernel's KMS/DRM display with Debian's python3-pygame and",
        "reports each page it draws (local API `/status`, `phase`); `./dev vm-test` captures",
        "QEMU's copy of the screen (`screendump`) at each page and compares it with the",
        "headless rendering (`seen.screen_*` in its JSON line). Retake them with",
        "`./dev vm-test --screens docs/screens`.",
        "",
        "**Not solved: these captures are black.** What is known: the text console (fbcon)",
        "is captured correctly on the same machine, on virtio-gpu and on QEMU's standard VGA",
        "(bochs-drm) alike, while a minimal pygame program filling the screen red on SDL's",
        "KMSDRM driver comes out black on both, with Mesa's software driver (kms_swrast)",
        "loaded. So the frames SDL flips under Mesa's software rendering are black in the",
        "guest, not lost by QEMU; whether a Raspberry Pi (hardware OpenGL ES) shows the",
        "pages was not tried here.",
        "",
        "After a power-off and on, before staff sign in (phase `paused`):",
        "",
        "![vm-paused](screens/vm-paused.png)",
        "",
        "A case pushed through the local API (HTTPS, forwarded from the host; phase `rating`):",
        "",
        "![vm-rating](screens/vm-rating.png)",
        "",
        "Key 1 pressed on the virtual keypad, the guest's USB serial port (phase `thanks`):",
        "",
        "![vm-thanks](screens/vm-thanks.png)",
        "",
    ]


def generate(docs: Path) -> Path:
    pictures = docs / "screens"
    lines = [
        "# The evaluator's screens",
        "",
        "Rendered headless from `docs/cases/*.json` (local API push bodies) with",
        "`haochaping-sim screenshot SCREEN --case FILE --out PNG`; regenerate all with",
        "`python -m simulator.screens_doc`.",
        "",
        "Text is never shrunk to fit: at 800×480 every text is at least 22 px and the five",
        "level labels 26 px, one size (large type: ×1.3). What does not fit wraps (item names",
        "to two or three lines), is listed page by page (a batch's case numbers) or spread over",
        "pages (theme rows, reason tags). Every text is at least 4.5:1 against its background.",
        "Rare characters in names (CJK Extensions A–F) are drawn by the fallback fonts",
        "(`[display] fallback_fonts`, Debian fonts-hanazono); a character no font of the chain",
        "has is drawn as the placeholder 〓 (U+3013) and counted in the local API's",
        "`/status` as `missingGlyphs`. Staff marks (keypad, clock, backlog) show only on the",
        "paused and idle pages.",
        "",
    ]
    for name, screen, case_file, mode, size, language, large, caption in SHOTS:
        body = load_case(docs / "cases" / case_file) if case_file else None
        render(
            screen,
            body,
            pictures / f"{name}.png",
            size=size,
            mode=mode,
            language=language,
            large_type=large,
        )
        source = f" (case `{case_file}`)" if case_file else ""
        lines += [f"## {name}", "", f"{caption}{source}", "", f"![{name}](screens/{name}.png)", ""]
    lines += walkthrough(docs)
    lines += web_section()
    lines += appliance_captures()
    out = docs / "screens.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    print(generate(parser.parse_args().docs))


if __name__ == "__main__":
    main()
