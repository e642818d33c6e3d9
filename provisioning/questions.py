"""The questions `haochaping-provision init` asks, in order, each with its own check.

A question is asked only when it applies to the answers before it (a window number for a
window, a keypad for a window); each has a command-line option of the same name for scripts.
To ask one more thing, add a `Question` here and read its answer where the device is set up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from device.flow.mode import Mode
from provisioning import answers
from provisioning.answers import Accepted, AnswerError
from provisioning.keypad_check import keypad_answers
from provisioning.panel_modes import DRM, native_mode
from provisioning.serial_ports import BY_ID, UDEV_NAME, found_ports, port_problem

Answers = dict[str, str]


@dataclass(frozen=True)
class Here:
    """Where to look at this machine: its serial ports and its panel."""

    by_id: Path = BY_ID
    udev_name: Path = UDEV_NAME
    drm: Path = DRM
    keypad_answers: Callable[[str], bool] = keypad_answers


@dataclass(frozen=True)
class Offer:
    """What the technician is shown before answering: lines of context and a default."""

    default: str | None = None
    lines: list[str] = field(default_factory=list)


def _always(_: Answers) -> bool:
    return True


def _nothing(_: Answers, __: Here) -> Offer:
    return Offer()


@dataclass(frozen=True)
class Question:
    key: str  # the answer's name; the option is --key-with-dashes
    prompt: str
    help: str
    check: Callable[[str, Answers, Here], Accepted]
    applies: Callable[[Answers], bool] = _always
    offer: Callable[[Answers, Here], Offer] = _nothing
    secret: bool = False

    @property
    def option(self) -> str:
        return "--" + self.key.replace("_", "-")


def is_window(given: Answers) -> bool:
    return given.get("mode") == Mode.WINDOW.value


def _keypad(text: str, _: Answers, here: Here) -> Accepted:
    choice = text.strip()
    ports = found_ports(here.by_id, here.udev_name)
    if choice.isdigit() and 1 <= int(choice) <= len(ports):
        choice = ports[int(choice) - 1]
    if choice.lower() in ("", "none", "-"):
        raise AnswerError(
            "a window evaluator needs its keypad (check fails one without); plug it in, "
            "or choose mode self_service for a touch-only terminal"
        )
    if not answers.keypad_url(choice):
        problem = port_problem(choice)
        if problem is not None:
            raise AnswerError(problem)
    if not here.keypad_answers(choice):
        return Accepted(
            choice,
            f"no keypad answered on {choice} within 3 s: another device's port, or the "
            "evaluator is holding it (systemctl stop haochaping-evaluator)",
        )
    return Accepted(choice)


def _keypad_offer(_: Answers, here: Here) -> Offer:
    ports = found_ports(here.by_id, here.udev_name)
    if not ports:
        return Offer(
            None,
            [
                f"no serial port found under {here.by_id}: plug the keypad in, or type its "
                "device (e.g. /dev/ttyAMA0 for the Pi's UART)"
            ],
        )
    lines = ["serial ports found (type the number or a device path):"]
    lines += [f"  {i}) {port}" for i, port in enumerate(ports, 1)]
    # the udev rule's name first: it stays the same when a keypad of the model is swapped
    single = len(ports) == 1 or ports[0] == str(here.udev_name)
    return Offer("1" if single else None, lines)


def _rate_later_offer(given: Answers, _: Here) -> Offer:
    page = given["province_url"] + "/m/rate"
    return Offer(
        page,
        [
            "the province's phone page for rating later (the QR code leads there); "
            f"its v1.1 interface serves it at {page}"
        ],
    )


def _display_offer(_: Answers, here: Here) -> Offer:
    mode = native_mode(here.drm)
    if mode is None:
        return Offer("native", ["the panel's resolution is not known here: 'native' uses its own"])
    return Offer(f"{mode[0]}x{mode[1]}", [f"the panel reports {mode[0]}x{mode[1]} (full screen)"])


QUESTIONS: list[Question] = [
    Question(
        "province_url",
        "Province base URL",
        "The province's 好差评 interface, e.g. https://hcp.example.gov.cn/api/v1.",
        lambda text, _, __: answers.province_url(text),
    ),
    Question(
        "token",
        "Enrolment token",
        "The one-time token the province issued for this device.",
        lambda text, _, __: answers.token(text),
        secret=True,
    ),
    Question(
        "mode",
        "Mode (window / self_service)",
        "window: evaluator at a counter, keypad and touch (pf 4); "
        "self_service: self-service terminal, touch only (pf 5).",
        lambda text, _, __: answers.mode(text),
    ),
    Question(
        "area_code",
        "Area code (行政区划代码)",
        "6-12 digits.",
        lambda text, _, __: answers.area_code(text),
    ),
    Question(
        "dept_code",
        "Department code (统一社会信用代码)",
        "18 characters.",
        lambda text, _, __: answers.dept_code(text),
    ),
    Question(
        "hall_code",
        "Hall code",
        "The service hall's code as the province lists it.",
        lambda text, _, __: answers.hall_code(text),
    ),
    Question(
        "window_no",
        "Window number",
        "The window's number as painted above the counter (window mode).",
        lambda text, _, __: answers.place_number(text, "window"),
        applies=is_window,
    ),
    Question(
        "terminal_no",
        "Terminal number (终端机编号)",
        "The self-service terminal's number (self_service mode).",
        lambda text, _, __: answers.place_number(text, "terminal"),
        applies=lambda given: not is_window(given),
    ),
    Question(
        "keypad_port",
        "Keypad port",
        "The keypad's serial device (found under /dev/serial/by-id) or a pyserial URL "
        "(window mode).",
        _keypad,
        applies=is_window,
        offer=_keypad_offer,
    ),
    Question(
        "rate_later_url",
        "Rate-later phone page",
        "The province's page where a rater rates later on a phone, e.g. "
        "https://hcp.example.gov.cn/api/v1/m/rate.",
        lambda text, _, __: answers.rate_later_page(text),
        offer=_rate_later_offer,
    ),
    Question(
        "display_size",
        "Screen size (WIDTHxHEIGHT or native)",
        "Full screen at this resolution; native: the panel's own mode.",
        lambda text, _, __: answers.display_size(text),
        offer=_display_offer,
    ),
]
