"""Which spoken prompt greets each page the rater meets; pure, the evaluator plays it.

No prompt ever names a level: what the rater chose stays between them and the device.
"""

from __future__ import annotations

from enum import StrEnum

from device.flow.rating_flow import Phase


class Prompt(StrEnum):
    """A shipped prompt; the value is its file name and its `[voice]` option."""

    RATE = "rate"  # 请您对本次服务进行评价
    REASONS = "reasons"  # what to do on the reasons page
    THANKS = "thanks"  # 感谢您的评价
    RATE_LATER = "rate_later"  # 您可以扫描二维码，稍后在手机上评价


_ON_ENTERING = {
    Phase.RATING: Prompt.RATE,
    Phase.REASONS: Prompt.REASONS,
    Phase.THANKS: Prompt.THANKS,
    Phase.RATE_LATER: Prompt.RATE_LATER,
}


def prompt_on_entering(phase: Phase) -> Prompt | None:
    """The prompt spoken as the flow enters `phase`, None for pages without one."""
    return _ON_ENTERING.get(phase)
