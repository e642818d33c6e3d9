"""The device configuration: one TOML file, typed and validated, unknown keys rejected.

Every error names the section and the option so a technician can fix the file.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomli_w

from device.daemon.addresses import (
    local_api_serves_tls,
    plain_http_refused,
    province_url_problem,
)
from device.errors import HaochapingError
from device.flow.mode import Mode
from device.keys.private_file import write_private
from device.keys.signing import key_id_of
from device.keys.sm2 import public_key_problem
from device.record.rate_later import DEFAULT_TEMPLATE
from device.screen.texts import LANGUAGES
from device.web_page.return_url import allowed_entry_problem

DEFAULT_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
# Debian fonts-hanazono: HanaMinA (BMP and Extension A), HanaMinB (Extensions B–F)
FALLBACK_FONTS = [
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",
]
ROTATIONS = (0, 90, 180, 270)


class DisplayOutput(StrEnum):
    """How the window's frames reach the glass: through SDL (a desktop window, or SDL's own
    KMS/DRM driver, which draws with OpenGL ES), or straight to the kernel's KMS/DRM display
    through dumb buffers, touches read from evdev (no OpenGL, no Mesa)."""

    SDL = "sdl"
    KMS = "kms"


class DisplayKind(StrEnum):
    """What the rater looks at: the evaluator's own window, or a page in the terminal's
    browser (no window, no pygame at all)."""

    SCREEN = "screen"
    WEB = "web"


LEVELS_LEFT_TO_RIGHT = [5, 4, 3, 2, 1]


class ConfigError(HaochapingError):
    """The configuration file is missing, unreadable or invalid."""

    code = "E_CONFIG"


@dataclass(frozen=True)
class DeviceSection:
    state_dir: str
    mode: Mode = Mode.WINDOW  # written "window" (pf 4) or "self_service" (pf 5)
    firmware_version: str = "0.1.0"
    min_free_mb: int = 8  # below this the device stops taking ratings it might not store

    def __post_init__(self) -> None:
        if not isinstance(self.mode, Mode) and self.mode in Mode.__members__.values():
            object.__setattr__(self, "mode", Mode(self.mode))

    def check(self) -> None:
        if not isinstance(self.mode, Mode):
            raise ConfigError("[device] mode must be 'window' or 'self_service'")
        if self.min_free_mb < 1:
            raise ConfigError("[device] min_free_mb must be at least 1")


@dataclass(frozen=True)
class SiteSection:
    area_code: str
    dept_code: str
    pf: int
    hall_code: str | None = None
    window_no: str | None = None
    terminal_no: str | None = None

    def check(self) -> None:
        if not (self.area_code.isdigit() and 6 <= len(self.area_code) <= 12):
            raise ConfigError("[site] area_code must be 6-12 digits (行政区划代码)")
        if len(self.dept_code) != 18:
            raise ConfigError("[site] dept_code must be the 18-character 统一社会信用代码")


@dataclass(frozen=True)
class ProvinceSection:
    base_url: str
    device_id: str
    key_id: str
    ca_bundle: str | None = None
    # The key the province enrolled: the anchor of `verify-ledger --expect-key-id`. Stays the
    # same when the key is rotated ("" in configurations written before it was kept).
    enrolled_key_id: str = ""
    # The province's key pinned at enrolment (spec v1.1): receipts must verify under it.
    # Both "" for a version-1 province (no receipts: deliveries are unproven).
    province_key: str = ""
    province_key_id: str = ""

    def check(self) -> None:
        problem = province_url_problem(self.base_url)
        if problem is not None:
            raise ConfigError(f"[province] base_url {problem}")
        problem = province_key_problem(self.province_key, self.province_key_id)
        if problem:
            raise ConfigError(f"[province] {problem}")

    @property
    def pinned_key(self) -> str | None:
        """The province key receipts are checked by; None for a version-1 province."""
        return self.province_key or None


def province_key_problem(key_b64: str, key_id: str) -> str | None:
    """Why a province key and its id cannot be pinned; None when they can (or both are "")."""
    if not key_b64 and not key_id:
        return None
    try:
        raw = base64.b64decode(key_b64, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        return "province_key must be the base64 of a 32-byte Ed25519 public key"
    if key_id != key_id_of(raw):
        return "province_key_id does not match province_key"
    return None


@dataclass(frozen=True)
class KeypadSection:
    port: str | None = None  # a device path or a pyserial URL; absent = touch only
    key_levels: list[int] = field(default_factory=lambda: list(LEVELS_LEFT_TO_RIGHT))

    def check(self) -> None:
        if sorted(self.key_levels) != [1, 2, 3, 4, 5]:
            raise ConfigError("[keypad] key_levels must list each level 1-5 exactly once")


@dataclass(frozen=True)
class LocalApiSection:
    token: str = field(repr=False)  # a secret: never in a repr, a log line or `show`
    bind: str = "127.0.0.1"
    port: int = 8470
    # Off loopback the API serves HTTPS only (the device certificate made at provisioning);
    # true: HTTPS on loopback too; false: plain HTTP, refused unless bind is loopback.
    tls: bool | None = None

    def check(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("[local_api] port must be 0-65535")
        if len(self.token) < 16:
            raise ConfigError("[local_api] token must be at least 16 characters")
        if plain_http_refused(self.bind, self.tls):
            raise ConfigError(
                f"[local_api] tls = false: plain HTTP is refused on bind = {self.bind!r}, "
                "which is not a loopback address (the token would cross the network in "
                "clear); remove tls to serve HTTPS, or bind to 127.0.0.1"
            )

    @property
    def serves_tls(self) -> bool:
        return local_api_serves_tls(self.bind, self.tls)


@dataclass(frozen=True)
class DisplaySection:
    # absent: the panel's native resolution, full screen, pointer hidden (the device);
    # the simulator sets a size and fullscreen = false for a window on a desktop
    kind: DisplayKind = DisplayKind.SCREEN  # "screen" or "web"
    output: DisplayOutput = DisplayOutput.SDL  # "sdl" or "kms" (what `init` writes on a device)
    width: int | None = None
    height: int | None = None
    fullscreen: bool = True
    rotate: int = 0  # degrees clockwise, for a panel mounted sideways or upside down
    font: str = DEFAULT_FONT
    fallback_fonts: list[str] = field(default_factory=lambda: list(FALLBACK_FONTS))
    language: str = "zh-Hans"  # zh-Hans, zh-Hant or en
    large_type: bool = False
    rating_timeout_s: int = 30
    reasons_timeout_s: int = 60
    thanks_s: int = 3
    rate_later_s: int = 20
    snapshot_dir: str | None = None  # simulator: save each new page as a PNG here
    # The keypad lights and beeps the same whatever the level and the thanks page does not
    # repeat it, so the staff member across the counter cannot see the choice. A hall that
    # wants the chosen key lit and the level shown sets it to false.
    private_press: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.kind, DisplayKind) and self.kind in DisplayKind.__members__.values():
            object.__setattr__(self, "kind", DisplayKind(self.kind))
        if not isinstance(self.output, DisplayOutput) and self.output in list(DisplayOutput):
            object.__setattr__(self, "output", DisplayOutput(self.output))

    def check(self) -> None:
        if not isinstance(self.kind, DisplayKind):
            raise ConfigError("[display] kind must be 'screen' or 'web'")
        if not isinstance(self.output, DisplayOutput):
            raise ConfigError("[display] output must be 'sdl' or 'kms'")
        if (self.width is None) != (self.height is None):
            raise ConfigError("[display] width and height go together (or both absent)")
        if (
            self.width is not None
            and self.height is not None
            and (self.width < 480 or self.height < 320)
        ):
            raise ConfigError("[display] width/height below 480x320 cannot show a rating page")
        if self.rotate not in ROTATIONS:
            raise ConfigError("[display] rotate must be 0, 90, 180 or 270")
        if self.language not in LANGUAGES:
            raise ConfigError(f"[display] language must be one of {', '.join(LANGUAGES)}")
        for name in ("rating_timeout_s", "reasons_timeout_s", "rate_later_s"):
            if not 5 <= getattr(self, name) <= 600:
                raise ConfigError(f"[display] {name} must be 5-600")
        if not 1 <= self.thanks_s <= 60:
            raise ConfigError("[display] thanks_s must be 1-60")


@dataclass(frozen=True)
class VoiceSection:
    """Spoken prompts: on by default with the shipped ones in the display language; each may
    be replaced by a recorded .wav/.ogg file. `enabled = false` is the only way to silence
    them. A prompt never names the level the rater chose."""

    enabled: bool = True
    rate: str | None = None  # "请您对本次服务进行评价"
    reasons: str | None = None  # what to do on the reasons page
    thanks: str | None = None  # "感谢您的评价"
    rate_later: str | None = None  # "您可以扫描二维码，稍后在手机上评价"

    def check(self) -> None:
        for name in ("rate", "reasons", "thanks", "rate_later"):
            path = getattr(self, name)
            if path is not None and not path.endswith((".wav", ".ogg")):
                raise ConfigError(f"[voice] {name} must be a .wav or .ogg file")


@dataclass(frozen=True)
class RateLaterSection:
    url_template: str = DEFAULT_TEMPLATE

    def check(self) -> None:
        for placeholder in ("{projectNo}", "{deviceId}", "{signature}"):
            if placeholder not in self.url_template:
                raise ConfigError(f"[rate_later] url_template must contain {placeholder}")


ADAPTERS = ("province-v1", "monthly-export", "gm-soap")


@dataclass(frozen=True)
class GmSection:
    """A 国密 province (`[sync] adapter = "gm-soap"`): its token gateway and what it issued
    at installation. `app_secret` is a secret: never in a repr, a log line or `show`. The
    device's SM2 private key is a file of its own in the state folder (gm-sm2.key)."""

    gateway_url: str = ""
    app_key: str = ""
    app_secret: str = field(default="", repr=False)
    province_sm2_key: str = ""  # hex of the uncompressed point, 130 characters
    device_sm2_key: str = ""  # the device's SM2 public key as registered (hex)

    @property
    def configured(self) -> bool:
        return bool(self.gateway_url or self.app_key or self.app_secret or self.province_sm2_key)

    def check(self) -> None:
        if not self.configured:
            return
        problem = province_url_problem(self.gateway_url)
        if problem is not None:
            raise ConfigError(f"[gm] gateway_url {problem}")
        if not self.app_key or len(self.app_key) > 128:
            raise ConfigError("[gm] app_key is required (as the province issued it)")
        if len(self.app_secret) != 32 or any(
            c not in "0123456789abcdefABCDEF" for c in self.app_secret
        ):
            raise ConfigError("[gm] app_secret must be the 32 hex characters the province issued")
        problem = public_key_problem(self.province_sm2_key)
        if problem is not None:
            raise ConfigError(f"[gm] province_sm2_key: {problem}")
        problem = public_key_problem(self.device_sm2_key)
        if problem is not None:
            raise ConfigError(f"[gm] device_sm2_key: {problem}")


@dataclass(frozen=True)
class RatePageSection:
    """The rating page a self-service terminal's browser opens (`[display] kind = "web"`)."""

    # Where the page may send the browser back to when the rating is done: each entry an
    # origin ("https://kiosk.local:8443") or an origin and path prefix ("http://127.0.0.1:8080/
    # app/"). A returnUrl matching none is refused: the device never redirects elsewhere.
    return_urls: list[str] = field(default_factory=list)

    def check(self) -> None:
        for entry in self.return_urls:
            problem = allowed_entry_problem(entry)
            if problem is not None:
                raise ConfigError(f"[rate_page] return_urls: {entry!r} {problem}")


@dataclass(frozen=True)
class SyncSection:
    adapter: str = "province-v1"  # or "monthly-export", or "gm-soap" (a 国密 province: [gm])
    export_dir: str | None = None  # monthly-export: where the files go (default state/exports)
    batch_size: int = 500
    poll_seconds: float = 60.0  # how long to sleep when idle; new ratings wake it at once
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    retention_days: int = 30  # delivered ratings are removed from the device after this
    heartbeat_s: int = 60
    tags_refresh_s: int = 6 * 3600
    backoff_base_s: float = 1.0  # first retry within this; doubles up to the cap (full jitter)
    backoff_cap_s: float = 300.0

    def check(self) -> None:
        if self.adapter not in ADAPTERS:
            raise ConfigError(f"[sync] adapter must be one of {', '.join(ADAPTERS)}")
        if not 1 <= self.batch_size <= 500:
            raise ConfigError("[sync] batch_size must be 1-500 (the province's limit)")
        if not 1 <= self.retention_days <= 3650:
            raise ConfigError("[sync] retention_days must be 1-3650")
        if not 10 <= self.heartbeat_s <= 3600:
            raise ConfigError("[sync] heartbeat_s must be 10-3600")
        if not 0 < self.backoff_base_s <= self.backoff_cap_s <= 3600:
            raise ConfigError("[sync] need 0 < backoff_base_s <= backoff_cap_s <= 3600")


@dataclass(frozen=True)
class Config:
    device: DeviceSection
    site: SiteSection
    province: ProvinceSection
    local_api: LocalApiSection
    keypad: KeypadSection = field(default_factory=KeypadSection)
    display: DisplaySection = field(default_factory=DisplaySection)
    sync: SyncSection = field(default_factory=SyncSection)
    voice: VoiceSection = field(default_factory=VoiceSection)
    rate_later: RateLaterSection = field(default_factory=RateLaterSection)
    gm: GmSection = field(default_factory=GmSection)
    rate_page: RatePageSection = field(default_factory=RatePageSection)

    def check(self) -> None:
        """Rules that span sections."""
        if self.sync.adapter == "gm-soap" and not self.gm.configured:
            raise ConfigError(
                "[sync] adapter = 'gm-soap' needs the [gm] section "
                "(haochaping-provision gm-enroll writes it)"
            )
        if not self.device.mode.takes_keys and self.keypad.port:
            raise ConfigError("[keypad] port: a self-service terminal is touch only")
        if self.display.kind is DisplayKind.WEB and self.device.mode is not Mode.SELF_SERVICE:
            raise ConfigError(
                "[display] kind = 'web' is for a self-service terminal ([device] mode = "
                "'self_service'): a window evaluator has its own screen"
            )

    @property
    def state_dir(self) -> Path:
        return Path(self.device.state_dir)

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "ledger.db"

    @property
    def key_path(self) -> Path:
        return self.state_dir / "device.key"

    @property
    def identity_key_path(self) -> Path:
        return self.state_dir / "identity.key"

    @property
    def sm2_key_path(self) -> Path:
        """The device's SM2 private key (a 国密 province), mode 0600, never leaves the device."""
        return self.state_dir / "gm-sm2.key"


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return isinstance(value, str)  # which words are allowed is the section's check
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _section(cls: type, data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{name}] must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"[{name}] unknown option(s): {', '.join(unknown)}")
    for fname, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if fname not in data:
            if required:
                raise ConfigError(f"[{name}] {fname} is required")
            continue
        if not _type_ok(data[fname], hints[fname]):
            raise ConfigError(f"[{name}] {fname} has the wrong type (expected {hints[fname]})")
    section = cls(**data)
    section.check()
    return section


def from_dict(data: dict[str, Any]) -> Config:
    hints = typing.get_type_hints(Config)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(f'[{u}]' for u in unknown)}")
    sections: dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        if f.name in data:
            sections[f.name] = _section(hints[f.name], data[f.name], f.name)
        elif f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"section [{f.name}] is required")
    config = Config(**sections)
    config.check()
    return config


def load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return from_dict(data)


def to_dict(config: Config) -> dict[str, Any]:
    """The configuration as TOML-ready tables (None values left out: TOML has no null)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.name == "gm" and not config.gm.configured:
            continue  # a device of a JSON province has no [gm] table
        table = dataclasses.asdict(getattr(config, f.name))
        out[f.name] = {k: v for k, v in table.items() if v is not None}
    return out


def save(
    config: Config, path: Path, *, mode: int | None = None, owner: tuple[int, int] | None = None
) -> None:
    """Write atomically (see private_file), the old file first copied to .bak the same way,
    so a power cut leaves each of the two whole. A file replaced keeps its mode and owner
    unless *mode* or *owner* say otherwise; a new one is 0600."""
    if path.exists():
        old = path.stat()
        write_private(
            path.with_name(path.name + ".bak"),
            path.read_bytes(),
            mode=old.st_mode & 0o777,
            owner=(old.st_uid, old.st_gid) if os.geteuid() == 0 else None,
        )
    write_private(path, tomli_w.dumps(to_dict(config)).encode("utf-8"), mode=mode, owner=owner)
