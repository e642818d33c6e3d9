"""What a technician may answer at `haochaping-provision init`, checked one answer at a time.

Pure rules: each check takes the typed text and gives the value to keep (`Accepted`, maybe
with a caution to confirm) or says why not (`AnswerError`, maybe with a corrected answer to
offer). Looking at the machine (serial ports, the panel) is done by the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from device.daemon.addresses import is_loopback, province_url_problem
from device.errors import HaochapingError
from device.flow.mode import Mode
from device.record.rate_later import DEFAULT_TEMPLATE, template_for

API_PATH = "/api/v1"
# GB 32100-2015: the 统一社会信用代码's alphabet (no I, O, S, V, Z) and check weights
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
SERIAL_URL_SCHEMES = ("socket", "rfc2217", "loop", "spy")
PLACE_NUMBER = re.compile(r"[0-9A-Za-z-]{1,16}")
HALL_CODE = re.compile(r"[0-9A-Za-z_-]{1,32}")
MIN_PANEL = (480, 320)


class AnswerError(HaochapingError):
    """An answer that cannot be used: why, and a corrected answer when one is plain."""

    code = "E_ANSWER"

    def __init__(self, reason: str, suggestion: str | None = None) -> None:
        super().__init__(reason)
        self.suggestion = suggestion


@dataclass(frozen=True)
class Accepted:
    """An answer to keep: the value written, and a caution the technician should confirm."""

    value: str
    caution: str | None = None


def mode(text: str) -> Accepted:
    word = text.strip().lower().replace("-", "_")
    if word in ("window", "w"):
        return Accepted(Mode.WINDOW.value)
    if word in ("self_service", "s", "terminal"):
        return Accepted(Mode.SELF_SERVICE.value)
    raise AnswerError(
        f"{text!r} is not a mode: 'window' (evaluator at a counter, keypad and touch) or "
        "'self_service' (self-service terminal, touch only)"
    )


def area_code(text: str) -> Accepted:
    code = text.strip()
    if not (code.isascii() and code.isdigit() and 6 <= len(code) <= 12):
        raise AnswerError(f"{code!r}: the 行政区划代码 is 6-12 digits (e.g. a county's six)")
    return Accepted(code)


def credit_check_character(first17: str) -> str:
    total = sum(
        CREDIT_CODE_ALPHABET.index(c) * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def dept_code(text: str) -> Accepted:
    code = text.strip().upper()
    if len(code) != 18:
        raise AnswerError(
            f"{code!r} has {len(code)} characters: the 统一社会信用代码 has 18 "
            "(digits and capital letters)"
        )
    wrong = sorted({c for c in code if c not in CREDIT_CODE_ALPHABET})
    if wrong:
        raise AnswerError(
            f"{code!r} contains {', '.join(repr(c) for c in wrong)}: a 统一社会信用代码 has "
            "only digits and the capitals A-Y without I, O, S, V, Z (0 and O are easily mixed)"
        )
    expected = credit_check_character(code[:17])
    if code[17] != expected:
        return Accepted(
            code,
            f"the last character of {code} should be {expected} for the 17 before it: "
            "a typing mistake is likely",
        )
    return Accepted(code)


def hall_code(text: str) -> Accepted:
    code = text.strip()
    if not HALL_CODE.fullmatch(code):
        raise AnswerError(
            f"{code!r}: the hall code is 1-32 letters, digits, '-' or '_' (as the province "
            "lists the hall)"
        )
    return Accepted(code)


def place_number(text: str, what: str) -> Accepted:
    """A window number or a terminal number, as the hall paints it."""
    number = text.strip()
    if not PLACE_NUMBER.fullmatch(number):
        raise AnswerError(f"{number!r}: the {what} number is 1-16 letters, digits or '-'")
    return Accepted(number)


def token(text: str) -> Accepted:
    value = text.strip()
    if not value or any(c.isspace() for c in value):
        raise AnswerError("the enrolment token is one word from the province, without spaces")
    return Accepted(value)


def province_url(text: str) -> Accepted:
    url = text.strip().rstrip("/")
    problem = province_url_problem(url)
    if problem is not None:
        raise AnswerError(f"{url or 'an empty answer'} {problem}")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise AnswerError(f"{url}: the base URL carries no '?' or '#' part")
    path = parts.path.rstrip("/")
    if not path.endswith(API_PATH):
        cut = path.find(API_PATH + "/")
        base = path[: cut + len(API_PATH)] if cut >= 0 else path + API_PATH
        corrected = urlunsplit((parts.scheme, parts.netloc, base, "", ""))
        raise AnswerError(
            f"{url} does not end in {API_PATH}: the province's interface lives under "
            f"{API_PATH} (enrolment is POST {API_PATH}/devices/enroll), so this address "
            "would get 404 Not Found",
            suggestion=corrected,
        )
    return Accepted(url)


def placeholder_problem(template: str) -> str | None:
    """Why a rate-later URL template is a placeholder rather than the province's page."""
    if not template.strip():
        return "is empty"
    if template == DEFAULT_TEMPLATE:
        return "is the sample address shipped in the software"
    host = (urlsplit(template).hostname or "").lower()
    if not host:
        return "has no host"
    labels = host.split(".")
    if "example" in labels or host in ("example.com", "example.org", "example.net"):
        return f"points at {host}, a placeholder domain"
    return None


def rate_later_page(text: str) -> Accepted:
    """The province's phone page for rating later; the value kept is the URL template."""
    page = text.strip()
    if not page:
        raise AnswerError(
            "empty: the rate-later QR code would lead nowhere; ask the province for the "
            "address of its phone rating page (…/m/rate)"
        )
    template = page if "{" in page else template_for(page.rstrip("/"))
    for placeholder in ("{projectNo}", "{deviceId}", "{signature}"):
        if placeholder not in template:
            raise AnswerError(f"a URL template must contain {placeholder}")
    parts = urlsplit(template)
    loopback = parts.scheme == "http" and is_loopback(parts.hostname or "")
    if parts.scheme != "https" and not loopback:
        raise AnswerError(
            f"{page}: a rater's phone opens it over the internet: it must be https://"
        )
    if "{" not in page and ("?" in page or "#" in page):
        raise AnswerError(
            f"{page}: give the page's address without '?…'; the device adds the case, its id "
            "and signature itself"
        )
    problem = placeholder_problem(template)
    if problem is not None:
        raise AnswerError(f"{page} {problem}: raters would scan a code that leads nowhere")
    return Accepted(template)


def keypad_url(text: str) -> bool:
    """Whether *text* names the keypad by a pyserial URL rather than a device file."""
    return text.split("://", 1)[0] in SERIAL_URL_SCHEMES and "://" in text


def display_size(text: str) -> Accepted:
    """'native' (the panel's own mode, full screen) or WIDTHxHEIGHT."""
    word = text.strip().lower().replace("×", "x")
    if word in ("native", "0x0"):
        return Accepted("native")
    match = re.fullmatch(r"(\d{3,5})x(\d{3,5})", word)
    if not match:
        raise AnswerError(f"{text!r}: give WIDTHxHEIGHT in pixels (e.g. 1024x600) or 'native'")
    width, height = int(match[1]), int(match[2])
    if width < MIN_PANEL[0] or height < MIN_PANEL[1]:
        raise AnswerError(f"{width}x{height} is below 480x320: a rating page does not fit")
    return Accepted(f"{width}x{height}")
