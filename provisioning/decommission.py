"""Taking a device out of service for good: refused while ratings are undelivered (unless
forced); keys and personal data wiped; the ledger of signed ratings kept as evidence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from device.daemon.config import Config
from device.errors import HaochapingError
from device.keys.private_file import temp_path
from device.ledger.store import Ledger
from device.local_api.tls import certificate_key_path, staged
from device.record import tag_catalog
from provisioning.rotate import wipe


class UndeliveredError(HaochapingError):
    """Ratings would be lost: deliver them first, or force."""

    code = "E_UNDELIVERED"


@dataclass(frozen=True)
class Decommissioned:
    undelivered: int
    identities_wiped: int
    files_wiped: list[str]


def decommission(config: Config, config_path: Path, force: bool = False) -> Decommissioned:
    undelivered = 0
    identities = 0
    if config.ledger_path.exists():
        with Ledger(config.ledger_path) as ledger:
            undelivered = ledger.outbox.backlog() + ledger.outbox.quarantined()
            if undelivered and not force:
                raise UndeliveredError(
                    f"{undelivered} ratings are not delivered yet (backlog or quarantine); "
                    "deliver them (haochaping-sync once) or use --force"
                )
            identities = ledger.purge_identities()
            ledger.vacuum()  # deleted pages are not left readable in the file
    wiped = [
        str(p)
        for p in (
            config.key_path,
            config.identity_key_path,
            config.sm2_key_path,  # a 国密 province's device key, where there is one
            config.state_dir / tag_catalog.CACHE_NAME,
            *_secret_leftovers(config),
        )
        if wipe(p)
    ]
    if config_path.exists():  # the services must not start again with this identity
        config_path.replace(config_path.with_name(config_path.name + ".decommissioned"))
    return Decommissioned(undelivered, identities, wiped)


def _secret_leftovers(config: Config) -> list[Path]:
    """Other names a secret may have on disk: a key staged or retired by a rotation, the
    local API's certificate key (and its staged twin), temp files a power cut left."""
    key, state = config.key_path, config.state_dir
    names = [
        key.with_name(key.name + ".new"),
        key.with_name(key.name + ".old"),
        certificate_key_path(state),
        staged(certificate_key_path(state)),
    ]
    names += [temp_path(name) for name in (key, *names)]
    vault = config.identity_key_path
    names += sorted(vault.parent.glob(vault.name + ".*.tmp"))
    return names
