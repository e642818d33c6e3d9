"""The technician's question at `init`: does the rater look at the evaluator's own screen, or
at the rating page in the self-service terminal's browser, and where may that page send the
browser back to? Answers become `[display] kind` and `[rate_page] return_urls`.
"""

from __future__ import annotations

from collections.abc import Callable

from device.daemon.config import DisplayKind, DisplaySection, RatePageSection
from device.flow.mode import Mode
from device.web_page.return_url import allowed_entry_problem

Ask = Callable[[str, str], str]  # (question, default) -> answer
KIND_QUESTION = (
    "Display: the evaluator's own screen, or the rating page in the terminal's browser? "
    "[screen/web]"
)
RETURN_QUESTION = (
    "Return address the rating page may send the browser to (an origin, or origin and path "
    "prefix; empty to finish)"
)


def ask_display(
    mode: Mode, kind: str | None, return_urls: tuple[str, ...], ask: Ask
) -> tuple[DisplaySection, RatePageSection]:
    """A window evaluator always has its own screen; a self-service terminal is asked (unless
    *kind* was given), and a web one for its allowed return addresses (unless given)."""
    if mode is not Mode.SELF_SERVICE:
        chosen = DisplayKind.SCREEN
    else:
        answer = kind if kind is not None else ask(KIND_QUESTION, DisplayKind.SCREEN.value)
        while answer not in DisplayKind.__members__.values():
            answer = ask(KIND_QUESTION, DisplayKind.SCREEN.value)
        chosen = DisplayKind(answer)
    urls = list(return_urls)
    question = RETURN_QUESTION
    while chosen is DisplayKind.WEB and not return_urls:
        entry = ask(question, "").strip()
        if not entry:
            break
        problem = allowed_entry_problem(entry)
        if problem is None:
            urls.append(entry)
        question = RETURN_QUESTION if problem is None else f"{entry!r} {problem}. {RETURN_QUESTION}"
    return DisplaySection(kind=chosen), RatePageSection(return_urls=urls)
