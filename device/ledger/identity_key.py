"""Which identity key sealed the personal data the ledger holds, so that a replaced
`identity.key` is told apart from one damaged row.

The rating sealed while no other personal data is held records the sealing key's check value
(`IdentityVault.key_check`, an HMAC under the key: it names the key and opens nothing) in
`identity_key_check`. Every program that opens the vault beside the ledger compares: another
key while personal data is held is refused (`WrongIdentityKeyError`) like a missing key, so
nothing is sent without personal data because of it, and the right key put back restores
service and delivery. A single row that does not open under the right key stays a loss of
that row alone (`device/ledger/outbox.py`). A ledger from before the check (migration 0008)
gets it the first time the key opens one of the identities held.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from device.keys.identity_vault import (
    IdentityVault,
    VaultError,
    WrongIdentityKeyError,
    missing_key_error,
)

if TYPE_CHECKING:
    from device.ledger.store import Ledger

OPEN_AT_MOST = 1000  # held identities tried, newest first, on a ledger with no check recorded


class KeyVerdict(Enum):
    MATCHES = "matches"  # the key that sealed what is held
    NOTHING_HELD = "nothing_held"  # no sealed personal data: any key will do
    OPENS_HELD = "opens_held"  # no check recorded yet, but it opens personal data held
    DOES_NOT_MATCH = "does_not_match"


def judge(
    recorded: str | None, key_check: str, held: int, opens_held: Callable[[], bool]
) -> KeyVerdict:
    """The verdict on a key, pure: *opens_held* is asked only when no check is recorded."""
    if held == 0:
        return KeyVerdict.NOTHING_HELD
    if recorded is not None:
        same = hmac.compare_digest(recorded.encode(), key_check.encode())
        return KeyVerdict.MATCHES if same else KeyVerdict.DOES_NOT_MATCH
    return KeyVerdict.OPENS_HELD if opens_held() else KeyVerdict.DOES_NOT_MATCH


class IdentityKeyCheck:
    """The identity_key_check table of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.conn = ledger.conn

    def recorded(self) -> str | None:
        row = self.conn.execute("SELECT key_check FROM identity_key_check").fetchone()
        return None if row is None else str(row[0])

    def held(self) -> int:
        """Ratings whose personal data is sealed in the ledger now."""
        return int(self.conn.execute("SELECT count(*) FROM rater_identities").fetchone()[0])

    def verdict(self, vault: IdentityVault) -> KeyVerdict:
        return judge(self.recorded(), vault.key_check, self.held(), lambda: self._opens(vault))

    def confirm(self, vault: IdentityVault) -> None:
        """Raise WrongIdentityKeyError unless *vault* can open the personal data held;
        record the check of a key proven on a ledger that had none."""
        verdict = self.verdict(vault)
        if verdict is KeyVerdict.OPENS_HELD:
            with self.ledger.writing("identity key check not stored"):
                self.conn.execute(
                    "INSERT OR IGNORE INTO identity_key_check (id, key_check) VALUES (1, ?)",
                    (vault.key_check,),
                )
        elif verdict is KeyVerdict.DOES_NOT_MATCH:
            raise wrong_key_error(vault.path, self.held())

    def note_sealing(self, vault: IdentityVault) -> None:
        """Inside the write transaction that seals a rater's personal data, before its row:
        the first sealed while nothing else is held names the key of all that follow."""
        self.conn.execute(
            "INSERT INTO identity_key_check (id, key_check) VALUES (1, ?)"
            " ON CONFLICT(id) DO UPDATE SET key_check = excluded.key_check"
            " WHERE key_check <> excluded.key_check"
            " AND NOT EXISTS (SELECT 1 FROM rater_identities)",
            (vault.key_check,),
        )

    def _opens(self, vault: IdentityVault) -> bool:
        rows = self.conn.execute(
            "SELECT r.evaluation_id, i.sealed FROM rater_identities i"
            " JOIN ratings r ON r.seq = i.seq ORDER BY i.seq DESC LIMIT ?",
            (OPEN_AT_MOST,),
        )
        for evaluation_id, sealed in rows:
            try:
                vault.open(evaluation_id, bytes(sealed))
            except (VaultError, ValueError, TypeError):
                continue
            return True
        return False


def wrong_key_error(path: Path | None, held: int) -> WrongIdentityKeyError:
    path = path or Path("identity.key")
    return WrongIdentityKeyError(
        f"identity key {path} does not match the key that sealed the personal data of "
        f"{held} ratings held in the ledger; put the original {path.name} back "
        "(this key opens none of it; nothing is sent until then)"
    )


def open_vault(ledger: Ledger, path: Path) -> IdentityVault:
    """The device's identity vault, made only while no personal data is held, and refused
    when it is not the key that sealed what is held (VaultError naming the file)."""
    vault = IdentityVault.load_or_create(path, holds_sealed=ledger.holds_identities())
    ledger.identity_key.confirm(vault)
    return vault


def vault_for_round(ledger: Ledger, vault: IdentityVault) -> IdentityVault:
    """The vault to open personal data with now: *vault* if it is the key that sealed what
    is held; else the key its file holds now, when that one is (the key legitimately
    changed while nothing was held, the sealing program already on the new one); else
    WrongIdentityKeyError naming the file."""
    try:
        ledger.identity_key.confirm(vault)
    except WrongIdentityKeyError:
        if vault.path is None:
            raise
        fresh = IdentityVault.load(vault.path)
        if fresh.key_check == vault.key_check:
            raise
        ledger.identity_key.confirm(fresh)
        return fresh
    return vault


def key_problem(ledger: Ledger, path: Path) -> str | None:
    """What stops the sync and the evaluator from using *path* with this ledger, for
    people (status, check); None when nothing does. Reads only: never makes a key."""
    held = ledger.identity_key.held()
    if not path.exists():
        return str(missing_key_error(path)) if held else None
    try:
        vault = IdentityVault.load(path)
    except VaultError as exc:
        return str(exc)
    if ledger.identity_key.verdict(vault) is KeyVerdict.DOES_NOT_MATCH:
        return str(wrong_key_error(path, held))
    return None
