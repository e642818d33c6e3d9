"""Provisioning a device: key generated on the device, enrolled, the province's tag list
cached, the local API's certificate made, configuration written last.

Nothing half-done is left behind: a failed enrolment removes the new key again.
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device import __version__
from device.daemon.config import (
    Config,
    DeviceSection,
    DisplayOutput,
    DisplaySection,
    KeypadSection,
    LocalApiSection,
    ProvinceSection,
    RateLaterSection,
    RatePageSection,
    SiteSection,
    save,
)
from device.flow.mode import Mode
from device.keys.identity_vault import IdentityVault
from device.keys.private_file import fsync_folder, shred
from device.keys.signing import DeviceKey, KeyFileError
from device.local_api.tls import certificate_key_path, certificate_path
from device.record import tag_catalog
from provisioning.certificate import make_certificate
from provisioning.enroll import Enrolment, enroll
from sync.province_client import ProvinceClient, ProvinceError

log = logging.getLogger(__name__)
MODEL = "haochaping-evaluator"


@dataclass(frozen=True)
class SiteAnswers:
    """What the technician says about where the device stands."""

    area_code: str
    dept_code: str
    mode: Mode = Mode.WINDOW
    hall_code: str | None = None
    window_no: str | None = None
    terminal_no: str | None = None

    @property
    def pf(self) -> int:
        return 5 if self.mode == "self_service" else 4

    def section(self) -> SiteSection:
        """The configuration's [site], as enrolled."""
        return SiteSection(
            area_code=self.area_code,
            dept_code=self.dept_code,
            pf=self.pf,
            hall_code=self.hall_code,
            window_no=self.window_no,
            terminal_no=self.terminal_no,
        )


def site_of(answers: dict[str, str]) -> SiteAnswers:
    """The site from `init`'s answers (see provisioning/questions.py)."""
    return SiteAnswers(
        area_code=answers["area_code"],
        dept_code=answers["dept_code"],
        mode=Mode(answers["mode"]),
        hall_code=answers["hall_code"],
        window_no=answers.get("window_no"),
        terminal_no=answers.get("terminal_no"),
    )


def display_of(answers: dict[str, str]) -> DisplaySection:
    """Full screen, at the size answered or the panel's own mode ('native': no size), drawn
    straight to the kernel's KMS/DRM display (no OpenGL needed on the device)."""
    size = answers.get("display_size", "native")
    if size == "native":
        return DisplaySection(fullscreen=True, output=DisplayOutput.KMS)
    width, height = (int(n) for n in size.split("x"))
    return DisplaySection(width=width, height=height, fullscreen=True, output=DisplayOutput.KMS)


def summary(answers: dict[str, str]) -> list[str]:
    """What is about to be enrolled, for the technician to see (the token left out)."""
    site = site_of(answers)
    place = f"window {site.window_no}" if site.window_no else f"terminal {site.terminal_no}"
    return [
        f"province:   {answers['province_url']}",
        f"site:       area {site.area_code}, dept {site.dept_code}, hall {site.hall_code}, "
        f"{place} (pf {site.pf})",
        f"keypad:     {answers.get('keypad_port') or 'none (touch only)'}",
        f"rate later: {answers['rate_later_url'].split('?', 1)[0]}",
        f"screen:     full screen, {answers.get('display_size', 'native')}",
    ]


def provision(
    *,
    config_path: Path,
    state_dir: Path,
    province_url: str,
    token: str,
    site: SiteAnswers,
    ca_bundle: str | None = None,
    keypad_port: str | None = None,
    local_api_bind: str = "127.0.0.1",
    local_api_port: int = 8470,
    display: DisplaySection | None = None,
    serial: str | None = None,
    service_user: str | None = "haochaping",
    rate_later: RateLaterSection | None = None,
    rate_page: RatePageSection | None = None,
) -> Config:
    # Build (and so validate) everything that does not depend on the province first.
    draft = Config(
        device=DeviceSection(
            state_dir=str(state_dir), mode=site.mode, firmware_version=__version__
        ),
        site=site.section(),
        province=ProvinceSection(
            base_url=province_url, device_id="-", key_id="-", ca_bundle=ca_bundle
        ),
        local_api=LocalApiSection(
            token=secrets.token_urlsafe(24), bind=local_api_bind, port=local_api_port
        ),
        keypad=KeypadSection(port=keypad_port),
        display=display or DisplaySection(),
        rate_later=rate_later or RateLaterSection(),
        rate_page=rate_page or RatePageSection(),
    )
    draft.check()
    for section in (
        draft.device,
        draft.site,
        draft.province,
        draft.local_api,
        draft.keypad,
        draft.display,
        draft.rate_later,
        draft.rate_page,
    ):
        section.check()
    drop_unfinished_key(draft, config_path)
    key = DeviceKey.generate()
    key.save(draft.key_path)
    try:
        enrolment = enroll(
            province_url,
            token,
            key,
            {
                "areaCode": site.area_code,
                "hallCode": site.hall_code,
                "windowNo": site.window_no,
                "deptCode": site.dept_code,
                "pf": site.pf,
                "terminalNo": site.terminal_no,
            },
            serial=serial or socket.gethostname(),
            model=MODEL,
            firmware_version=__version__,
            ca_bundle=ca_bundle,
        )
    except BaseException:
        draft.key_path.unlink(missing_ok=True)
        raise
    IdentityVault.load_or_create(draft.identity_key_path)
    fetch_tags(draft, enrolment, key)
    make_certificate(state_dir, enrolment.device_id)
    config = Config(
        device=draft.device,
        site=draft.site,
        province=ProvinceSection(
            base_url=province_url,
            device_id=enrolment.device_id,
            key_id=enrolment.key_id,
            ca_bundle=ca_bundle,
            enrolled_key_id=enrolment.key_id,
            province_key=enrolment.province_key,
            province_key_id=enrolment.province_key_id,
        ),
        local_api=draft.local_api,
        keypad=draft.keypad,
        display=draft.display,
        rate_later=draft.rate_later,
        rate_page=draft.rate_page,
    )
    owner = service_owner(service_user)
    if owner is not None:  # the state is the service's before the configuration exists
        give_state(config, owner)
    # written with its final owner and mode: a power cut never leaves a configuration the
    # services cannot read
    save(config, config_path, **config_access(owner))
    return config


def drop_unfinished_key(draft: Config, config_path: Path) -> None:
    """A key left by a provisioning that a power cut stopped before the configuration was
    written has signed nothing (no program runs without the configuration): it is shredded
    so provisioning can start again. A key beside a ledger is never touched."""
    if not draft.key_path.exists() or config_path.exists():
        return
    if draft.ledger_path.exists():
        raise KeyFileError(
            f"{draft.key_path} and a ledger are there but no configuration {config_path}: "
            "restore the configuration (device.toml.bak) rather than provisioning again"
        )
    log.warning("a provisioning cut short left %s; starting again with a new key", draft.key_path)
    shred(draft.key_path)


def fetch_tags(draft: Config, enrolment: Enrolment, key: DeviceKey) -> str | None:
    """Cache the province's tag list now, so the device never offers codes it does not know;
    the version kept, or None when the province could not give it (the sync fetches it at
    its first heartbeat then, and the shipped list, the same vocabulary, serves meanwhile)."""
    client = ProvinceClient(
        draft.province.base_url, enrolment.device_id, key, ca_bundle=draft.province.ca_bundle
    )
    try:
        data = client.call("GET", f"/devices/{enrolment.device_id}/tags")
        return tag_catalog.keep(draft.state_dir, data).version
    except (ProvinceError, tag_catalog.TagListError) as exc:
        log.warning("tag list not fetched at enrolment (%s); the sync fetches it later", exc)
        return None
    finally:
        client.close()


def service_owner(user: str | None) -> tuple[int, int] | None:
    """(uid, gid) of the service user when running as root and the user exists, else None
    (tests, a development machine: files stay the writer's)."""
    if user is None or os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None  # the user comes with the package's sysusers.d; init may run before it
    return entry.pw_uid, entry.pw_gid


def config_access(owner: tuple[int, int] | None) -> dict[str, Any]:
    """The configuration's owner and mode: root's, readable by the service's group (0640)."""
    return {} if owner is None else {"mode": 0o640, "owner": (0, owner[1])}


def give_state(config: Config, owner: tuple[int, int]) -> None:
    """The state folder and the secrets in it to the service user."""
    state = config.state_dir
    for path in (
        state,
        config.key_path,
        config.identity_key_path,
        certificate_path(state),
        certificate_key_path(state),
        state / tag_catalog.CACHE_NAME,
    ):
        if path.exists():
            os.chown(path, *owner)
    fsync_folder(state)


def hand_over(config: Config, config_path: Path, user: str | None) -> None:
    """As root, give the state to the service user and the config to its group (0640), so
    the services can read what they need and nobody else can."""
    owner = service_owner(user)
    if owner is None:
        return
    give_state(config, owner)
    os.chown(config_path, 0, owner[1])
    config_path.chmod(0o640)
