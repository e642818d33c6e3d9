"""The evaluator's means to store ratings: device key, identity vault, ledger, health check.

Opened together; a missing piece is a `Problem` the device shows (out of service) instead of
taking ratings it cannot sign or store. A ledger that opens but cannot take a write (a
read-only mount, an immutable file) is such a missing piece: a real write is tried at once.
So is an identity key that is missing, or is not the one that sealed the personal data held.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from device.daemon.clock import Clock
from device.daemon.config import Config
from device.evaluator.health import HealthCheck
from device.flow.rating_flow import Problem
from device.keys.identity_vault import VaultError
from device.keys.signing import DeviceKey, KeyFileError
from device.ledger.identity_key import open_vault
from device.ledger.recorder import Recorder
from device.ledger.store import Ledger, LedgerError
from device.record.rating import Site

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Storage:
    key: DeviceKey
    ledger: Ledger
    recorder: Recorder
    health: HealthCheck


def open_storage(config: Config, site: Site, clock: Clock) -> Storage | Problem:
    try:
        key = DeviceKey.load(config.key_path)
    except KeyFileError as exc:
        log.error("%s", exc)
        return Problem.KEY
    try:
        ledger = Ledger(config.ledger_path, auto_checkpoint=False)
    except (LedgerError, OSError) as exc:
        log.error("ledger unavailable: %s", exc)
        return Problem.LEDGER
    if not ledger.writable():  # it says why
        log.error("ledger %s cannot be written: out of service", config.ledger_path)
        ledger.close()
        return Problem.LEDGER
    try:  # never a new identity key, nor another one, while data sealed with it is held
        vault = open_vault(ledger, config.identity_key_path)
    except VaultError as exc:  # it names the file, missing or not the one that sealed
        log.error("%s", exc)
        ledger.close()
        return Problem.KEY
    except LedgerError as exc:
        log.error("ledger unavailable: %s", exc)
        ledger.close()
        return Problem.LEDGER
    min_free = config.device.min_free_mb * 1024 * 1024
    recorder = Recorder(ledger, key, vault, site, clock)
    recorder.recover_held()  # bad presses on cases the device stopped on
    return Storage(
        key=key,
        ledger=ledger,
        recorder=recorder,
        health=HealthCheck(ledger, config.state_dir, min_free),
    )
