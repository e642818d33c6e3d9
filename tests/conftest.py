"""Every fixture of the suite: a real ledger file, keys and a vault; the stand-in province and
a device at it; an evaluator window, driven or behind its local API; a keypad board and link;
deployment runs. The work is done by `tests.support`; here it is set up and torn down.

Three markers let a module say which kind of a shared fixture it means:
`bare_province(*tokens)`, `officer_page` and `local_api` (see `pytest_configure`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame

from device.daemon.config import DEFAULT_FONT, FALLBACK_FONTS
from device.keypad.events import KeypadFound
from device.keypad.link import KeypadLink
from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from device.local_api.server import LocalApi
from device.screen.fonts import load_font
from device.screen.texts import Texts
from simulator.hall import Hall, SimulatedWindow, StandInProvince
from simulator.province.server import ProvinceServer
from simulator.province.speed.signature_pool import SignatureChecker
from simulator.province.store import ProvinceStore
from simulator.terminal import SelfServiceTerminal
from simulator.virtual_keypad import VirtualKeypad
from tests.support.deploy import Installed, install_twice, need_tool
from tests.support.dummy_evaluator import DummyEvaluator
from tests.support.evaluator import Driver, make_config
from tests.support.hostile import Answer, HostileServer
from tests.support.keypad import FAST, EventLog
from tests.support.kiosk import Kiosk
from tests.support.local_api import TOKEN, WANG, Window
from tests.support.province import EnrolledDevice, fill_officer_page, running_province
from tests.support.records import fill_ledger
from tests.support.screen import screen_strings
from tests.support.sync import Device
from tests.support.tls import make_ca_and_server

MARKERS = (
    "bare_province(*tokens, verifier_workers=None): the module tests the stand-in province "
    "itself; `province` is its bare ProvinceServer holding these enrolment tokens and "
    "`device` a key enrolled with the first",
    "officer_page: `province` is one stand-in per module, filled for the officer's page",
    "local_api: `window` and `kiosk` are live local APIs with the dummy twin behind",
    "web_terminal_timing(rating_s, rate_later_s): the module's `web_terminal` waits this "
    "long on its rating and rate-later pages",
)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)


# --- the ledger and its keys ------------------------------------------------------------


@pytest.fixture
def key() -> DeviceKey:
    return DeviceKey.generate()


@pytest.fixture
def vault(tmp_path: Path) -> IdentityVault:
    return IdentityVault.load_or_create(tmp_path / "identity.key")


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(ledger_path: Path) -> Iterator[Ledger]:
    with Ledger(ledger_path) as led:
        yield led


@pytest.fixture
def filled(ledger_path: Path, key: DeviceKey, vault: IdentityVault) -> Path:
    """A ledger file holding FILLED_ROWS ratings of every level, the third with a name."""
    fill_ledger(ledger_path, key, vault)
    return ledger_path


# --- the stand-in province and a device at it -------------------------------------------


@pytest.fixture
def province(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The stand-in province on a free loopback port, its database in tmp_path.

    By default the hall's StandInProvince, issuing tokens to provisioned devices; in a module
    marked `bare_province` its bare server, and in one marked `officer_page` the filled one.
    """
    if request.node.get_closest_marker("officer_page"):
        yield request.getfixturevalue("officer_page_province")
        return
    bare = request.node.get_closest_marker("bare_province")
    if bare:
        with running_province(tmp_path / "province.db", tokens=bare.args) as server:
            workers = bare.kwargs.get("verifier_workers")
            if workers is not None:
                server._checker.workers = workers  # verifying processes even on a small machine
            yield server
        return
    stand_in = StandInProvince(tmp_path)
    stand_in.start()
    yield stand_in
    stand_in.close()


@pytest.fixture
def device(request: pytest.FixtureRequest, tmp_path: Path, province: Any) -> Iterator[Any]:
    """A device at the province: in a `bare_province` module a key enrolled with the first
    token, otherwise a provisioned device (configuration, key, vault, ledger)."""
    bare = request.node.get_closest_marker("bare_province")
    if bare:
        yield EnrolledDevice.enrol(province.url, token=bare.args[0])
        return
    provisioned = Device(tmp_path, province)
    yield provisioned
    provisioned.close()


@pytest.fixture(scope="module")
def officer_page_province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProvinceServer]:
    """The stand-in holding what the officer's page shows, filled once for the module."""
    db = tmp_path_factory.mktemp("page") / "province.db"
    with running_province(db, tokens=("a", "b")) as server:
        server.window = fill_officer_page(server)  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def tls_province(tmp_path: Path) -> Iterator[tuple[ProvinceServer, Path]]:
    """The stand-in serving HTTPS with a throwaway CA, and that CA's bundle."""
    bundle, context = make_ca_and_server(tmp_path / "tls")
    store = ProvinceStore(tmp_path / "province.db")
    server = ProvinceServer(store, tls=context)
    server.start()
    store.add_token("tls-token", 600)
    yield server, bundle
    server.stop()
    store.close()


@pytest.fixture
def checker() -> Iterator[SignatureChecker]:
    checker = SignatureChecker(3)  # two verifying processes, whatever this machine has
    checker.start()
    yield checker
    checker.close()


# --- the evaluator --------------------------------------------------------------------------


@pytest.fixture
def window(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A window evaluator with 王敏 signed in: the real one driven headless, or in a module
    marked `local_api` its local API with the dummy twin (one server for the module: a stop
    takes 0.5 s)."""
    if request.node.get_closest_marker("local_api"):
        live = request.getfixturevalue("_window_server")
        live.evaluator.reset(WANG)
        yield live
        return
    with Driver(make_config(tmp_path)) as driver:
        driver.evaluator.inbox.sign_in(WANG)
        driver.until(lambda: driver.phase == "idle", "staff signed in")
        yield driver


@pytest.fixture
def kiosk(_kiosk_server: Window) -> Window:
    _kiosk_server.evaluator.reset()
    return _kiosk_server


@pytest.fixture(scope="module")
def _window_server() -> Iterator[Window]:
    with Window("window", WANG) as live:
        yield live


@pytest.fixture(scope="module")
def _kiosk_server() -> Iterator[Window]:
    with Window("self_service", None) as live:
        yield live


@pytest.fixture(scope="module")
def evaluator() -> DummyEvaluator:
    """The dummy twin behind the fuzzed local API, shared by the module's tests."""
    return DummyEvaluator(staff=WANG)


@pytest.fixture(scope="module")
def live_api(evaluator: DummyEvaluator) -> Iterator[LocalApi]:
    api = LocalApi("127.0.0.1", 0, TOKEN, evaluator, "window")
    api.start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def base_url(live_api: LocalApi) -> str:
    return f"http://127.0.0.1:{live_api.port}/api/v1"


@pytest.fixture(scope="module")
def live_hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedWindow]:
    """The first window of a simulated hall, its evaluator a real process, 王敏 signed in."""
    with Hall(tmp_path_factory.mktemp("hall")) as hall:
        window = hall.windows[0]
        window.client.sign_in("0421", "王敏")
        yield window


@pytest.fixture(scope="module")
def font() -> Iterator[Any]:
    """The shipped CJK font, loaded for every zh-Hans string and tag label."""
    pygame.display.init()
    yield load_font(DEFAULT_FONT, screen_strings("zh-Hans"))
    pygame.display.quit()


@pytest.fixture(scope="module")
def font_chain() -> Iterator[Any]:
    """The whole font chain (CJK extension fallbacks included) for every UI string."""
    pygame.display.init()
    yield load_font(DEFAULT_FONT, Texts().all_strings(), FALLBACK_FONTS)
    pygame.display.quit()


# --- the keypad -----------------------------------------------------------------------------


@pytest.fixture
def board(tmp_path: Path) -> Iterator[VirtualKeypad]:
    with VirtualKeypad(tmp_path / "usb-keypad", firmware="KP-TEST-2.1") as keypad:
        yield keypad


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def make_link(events: EventLog) -> Iterator[Callable[..., KeypadLink]]:
    links: list[KeypadLink] = []

    def make(url: str, **options: float) -> KeypadLink:
        link = KeypadLink(url, events, **options)
        links.append(link)
        link.start()
        return link

    yield make
    for link in links:
        link.stop()


@pytest.fixture
def link(
    board: VirtualKeypad, make_link: Callable[..., KeypadLink], events: EventLog
) -> KeypadLink:
    started = make_link(board.port, **FAST)
    events.wait_for(KeypadFound)
    return started


# --- deployment -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """install.sh run twice into a fresh root that already holds a provisioned device.toml."""
    if os.geteuid() != 0:
        pytest.skip("install.sh needs root (it creates a user and hands over directories)")
    for tool in ("systemd-sysusers", "systemd-tmpfiles", "systemctl"):
        need_tool(tool)
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3 (Debian's python3) to build the venv with")
    return install_twice(tmp_path_factory.mktemp("pi-root"))


# --- a hostile province ---------------------------------------------------------------------


@pytest.fixture
def hostile() -> Iterator[Callable[[Answer], HostileServer]]:
    """Start hostile servers that answer as told; all closed afterwards."""
    servers: list[HostileServer] = []

    def start(answer: Answer) -> HostileServer:
        servers.append(HostileServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def unsent_device(tmp_path: Path, province: Any) -> Device:
    """A provisioned device with two ratings waiting, one with personal data."""
    device = Device(tmp_path, province)
    device.record(1, identity={"userName": "李建国", "certKey": "9f" * 32})
    device.record(2)
    device.close()
    return device


# --- a self-service terminal with no window: the rating page in a browser -----------------


@pytest.fixture(scope="module")
def web_terminal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SelfServiceTerminal]:
    """A stand-in province and a provisioned web terminal (real evaluator and sync programs,
    the terminal's application on another port), one per module."""
    root = tmp_path_factory.mktemp("terminal")
    province = StandInProvince(root)
    province.start()
    timing = request.node.get_closest_marker("web_terminal_timing")
    terminal = SelfServiceTerminal(root / "terminal", province, **(timing.kwargs if timing else {}))
    try:
        terminal.start()
        yield terminal
    finally:
        terminal.stop()
        province.close()


@pytest.fixture(scope="module")
def chromium_kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    """One headless Chromium under chromedriver for a module, resized per terminal."""
    kiosk = Kiosk(tmp_path_factory.mktemp("kiosk-profile"))
    try:
        yield kiosk
    finally:
        kiosk.close()


@pytest.fixture(scope="module")
def playwright_chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright: a second, independent browser driver (the page must
    not depend on how one driver taps). One browser per module; never a downloaded one."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(chromium), args=flags, headless=True)
        try:
            yield browser
        finally:
            browser.close()
