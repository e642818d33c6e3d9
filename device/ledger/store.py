"""The ledger: every rating, signed and hash-chained, committed to SQLite before thanks.

One row per rating in seq order. Personal data is kept apart, encrypted, and deleted when
the province acknowledges the rating; a device seal keeps purged rows verifiable. Deleted
rows are zeroed in place (secure_delete) and, once every reader has moved on, the WAL that
still held their earlier copies is emptied (`scrub_purged`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from device.keys.identity_vault import IdentityVault
from device.keys.key_history import KeyEntry
from device.keys.private_file import fsync_folder
from device.keys.signing import DeviceKey
from device.ledger import migrations
from device.ledger.case_events import CaseEvents
from device.ledger.connection import LedgerError, connect
from device.ledger.identity_key import IdentityKeyCheck
from device.ledger.identity_losses import IdentityLosses, Resigner
from device.ledger.outbox import Outbox, UnsentRating
from device.ledger.sync_state import SyncMemory
from device.record.canonical import ZERO_HASH, canonical_json, check_canonical, record_hash
from device.record.rating import split_identity

log = logging.getLogger(__name__)
QUIET_CHECKPOINT_EVERY = 32  # ratings between WAL checkpoints when the owner checkpoints

__all__ = [
    "QUIET_CHECKPOINT_EVERY",
    "Ledger",
    "LedgerError",
    "StoredRating",
    "UnsentRating",
    "connect",
    "seal_bytes",
]


@dataclass(frozen=True)
class StoredRating:
    seq: int
    evaluation_id: str
    record: dict[str, Any]  # the full signed wire record


def seal_bytes(
    redacted: dict[str, Any], full_hash: str, has_identity: bool, *, checked: bool = False
) -> bytes:
    """What the device seal covers: the stored record, the full record's hash, and whether
    personal data was split off it."""
    return canonical_json(
        {"hasIdentity": has_identity, "record": redacted, "recordHash": full_hash},
        checked=checked,
    )


class Ledger:
    def __init__(
        self, path: Path, *, busy_timeout_s: float = 5.0, auto_checkpoint: bool = True
    ) -> None:
        """auto_checkpoint=False: commits never copy the WAL back into the database (which
        costs extra fsyncs); the owner calls checkpoint() at a quiet moment instead."""
        self.path = path
        is_new = not path.exists()
        try:
            self.conn = connect(path, busy_timeout_s=busy_timeout_s)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
        try:
            migrations.apply(self.conn)
            if not auto_checkpoint:
                self.conn.execute("PRAGMA wal_autocheckpoint = 0")
            if is_new:  # SQLite syncs the folder for its WAL, not for the database file
                fsync_folder(path.parent)
        except (sqlite3.Error, OSError) as exc:
            self.conn.close()
            raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
        self.db = Database(self.conn)
        self.outbox = Outbox(self)
        self.sync_state = SyncMemory(self)
        self.events = CaseEvents(self)
        self.identity_losses = IdentityLosses(self)
        self.identity_key = IdentityKeyCheck(self)
        self._known_keys: set[str] = set()
        self._purge_pending = False  # personal data deleted, the WAL not yet emptied
        self._probe_error: str | None = None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------

    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """One write transaction, taken IMMEDIATE so a busy reader never forces a retry of
        half a write; any SQLite failure (disk full, read-only) becomes a LedgerError."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise LedgerError(f"{what}: {exc}") from exc

    def record_key(self, entry: KeyEntry, device_id: str) -> None:
        """Keep a public key and its certificate (key history), so every rating it signs
        verifies from the enrolled key on."""
        with self.writing("key not recorded"):
            self.conn.execute(
                "INSERT INTO device_keys (key_id, public_key, previous_key_id, issued_at,"
                " certificate, device_id) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(key_id) DO UPDATE SET previous_key_id = excluded.previous_key_id,"
                " issued_at = excluded.issued_at, certificate = excluded.certificate,"
                " device_id = excluded.device_id WHERE device_keys.certificate IS NULL",
                (
                    entry.key_id,
                    entry.public_b64,
                    entry.previous_key_id,
                    entry.issued_at,
                    entry.certificate,
                    device_id,
                ),
            )
            self._known_keys.add(entry.key_id)

    def append(
        self,
        body: dict[str, Any],
        key: DeviceKey,
        vault: IdentityVault | None = None,
        *,
        web_reaction: tuple[int | None, int] | None = None,
    ) -> StoredRating:
        """Chain, sign and durably commit one rating; return it once it is on disk.
        *web_reaction*: a web page's (browser, device) reaction times, kept beside it."""
        with self.writing("rating not stored"):
            stored = self._append_in_tx(body, key, vault)
            if web_reaction is not None:
                self.conn.execute(
                    "INSERT INTO web_reactions (seq, page_ms, device_ms, signed_ms)"
                    " VALUES (?, ?, ?, ?)",
                    (stored.seq, *web_reaction, body["reactionMs"]),
                )
            return stored

    def web_reaction(self, seq: int) -> tuple[int | None, int, int] | None:
        """A web rating's reaction times: the browser's, the device's, the signed one."""
        row = self.conn.execute(
            "SELECT page_ms, device_ms, signed_ms FROM web_reactions WHERE seq = ?", (seq,)
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def remember_key(self, key: DeviceKey, device_id: str | None) -> None:
        """Inside a write transaction: keep the signing key's public half, once."""
        if key.key_id not in self._known_keys:
            self.conn.execute(
                "INSERT OR IGNORE INTO device_keys (key_id, public_key, device_id)"
                " VALUES (?, ?, ?)",
                (key.key_id, key.public_b64, device_id),
            )
            self._known_keys.add(key.key_id)

    def _append_in_tx(
        self, body: dict[str, Any], key: DeviceKey, vault: IdentityVault | None
    ) -> StoredRating:
        self.remember_key(key, body.get("deviceId"))
        self.conn.execute(  # rated: a bad press held for the case is settled by the rating
            "DELETE FROM pending_bad_presses WHERE project_no = ? AND assess_number = ?",
            (body.get("projectNo"), body.get("assessNumber")),
        )
        last = self._chain_end()
        seq, prev_hash = last[0] + 1, last[1]
        record = {**body, "seq": seq, "prevHash": prev_hash, "keyId": key.key_id}
        record.pop("signature", None)
        check_canonical(record)  # once; the four encodings below trust it
        record["signature"] = key.sign_record(record, checked=True)
        full_hash = record_hash(record, checked=True)
        redacted, identity = split_identity(record)
        if identity and vault is None:
            raise LedgerError("personal data present but no identity key to encrypt it")
        seal = key.sign(seal_bytes(redacted, full_hash, bool(identity), checked=True))
        self.conn.execute(
            "INSERT INTO ratings (seq, evaluation_id, project_no, assess_number, record,"
            " record_hash, has_identity, seal) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                record["evaluationId"],
                record["projectNo"],
                record["assessNumber"],
                canonical_json(redacted, checked=True).decode("utf-8"),
                full_hash,
                int(bool(identity)),
                seal,
            ),
        )
        if identity and vault is not None:
            self.identity_key.note_sealing(vault)
            self.conn.execute(
                "INSERT INTO rater_identities (seq, sealed) VALUES (?, ?)",
                (seq, vault.seal(record["evaluationId"], identity)),
            )
        return StoredRating(seq, record["evaluationId"], record)

    def outcomes(self, limit: int = 100) -> list[dict[str, Any]]:
        """Case outcomes stored before case events were chained (migration 0005): kept,
        unchanged and undelivered, as signed evidence."""
        rows = self.conn.execute(
            "SELECT event FROM case_outcomes ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [json.loads(text) for (text,) in rows]

    def rated(self, project_no: str, assess_number: int = 1) -> bool:
        """Whether a rating of this case (or of a batch holding it) is in the ledger."""
        found = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM ratings r WHERE r.assess_number = ? AND"
            " (r.project_no = ? OR EXISTS (SELECT 1 FROM json_each(coalesce("
            "json_extract(r.record, '$.batchProjectNos'), json_array())) WHERE value = ?)))",
            (assess_number, project_no, project_no),
        ).fetchone()
        return bool(found[0])

    def holds_identities(self) -> bool:
        """Whether any rater's personal data is still sealed in the ledger."""
        found = self.conn.execute("SELECT EXISTS (SELECT 1 FROM rater_identities)").fetchone()
        return bool(found[0])

    def purge_identities(self) -> int:
        """Delete all personal data (decommissioning); returns how many raters' data went."""
        with self.writing("personal data not wiped"):
            wiped = self.conn.execute("DELETE FROM rater_identities").rowcount
        self.note_purged(wiped)
        self.scrub_purged()
        return wiped

    def note_purged(self, rows: int) -> None:
        """*rows* raters' personal data were deleted: the WAL is to be emptied next."""
        if rows:
            self._purge_pending = True

    def scrub_purged(self) -> bool:
        """After personal data was deleted: copy the whole WAL into the database file and
        truncate the WAL to nothing, so no earlier copy of a deleted row is left in it (the
        rows themselves were zeroed by secure_delete). Never waits: while another connection
        still reads an older snapshot, or writes, the checkpoint cannot complete and stays
        pending for the next call. True once nothing is pending."""
        if not self._purge_pending:
            return True
        try:
            emptied = self._truncate_wal()
        except sqlite3.Error as exc:
            log.warning("deleted personal data not yet scrubbed from the WAL: %s", exc)
            return False
        if emptied:
            self._purge_pending = False
        else:
            log.debug("WAL still read by another connection: scrubbing it later")
        return emptied

    def _truncate_wal(self) -> bool:
        """A TRUNCATE checkpoint with no busy wait (a wait would hold back the evaluator's
        writes); whether it completed."""
        (waits_ms,) = self.conn.execute("PRAGMA busy_timeout").fetchone()
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            busy, wal_frames, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(waits_ms)}")
        return busy == 0 and wal_frames == 0

    def vacuum(self) -> None:
        """Rewrite the file so deleted pages are not left readable in it."""
        self.conn.execute("VACUUM")

    def checkpoint(self) -> None:
        """Copy committed WAL frames into the database file so the WAL is reused, not grown.
        Passive: never waits for, nor blocks, another process's reads and writes."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise LedgerError(f"checkpoint failed: {exc}") from exc

    def probe_write(self) -> None:
        """Commit a real write that changes nothing: the header's user_version written back
        with its own value, appended to the WAL and synced like a rating. Taking the write
        lock alone succeeds on an immutable file or a read-only mount; this does not."""
        with self.writing("ledger not writable"):
            (version,) = self.conn.execute("PRAGMA user_version").fetchone()
            self.conn.execute(f"PRAGMA user_version = {int(version)}")

    def writable(self) -> bool:
        """Whether a rating could be committed now, found by committing (`probe_write`)."""
        try:
            self.probe_write()
        except LedgerError as exc:
            if str(exc) != self._probe_error:
                log.warning("%s", exc)
            self._probe_error = str(exc)
            return False
        if self._probe_error is not None:
            log.info("ledger writable again")
        self._probe_error = None
        return True

    # -- reading ----------------------------------------------------------------------

    def count(self) -> int:
        return self.db["ratings"].count

    def _chain_end(self) -> tuple[int, str]:
        """(seq, hash) of the newest rating; after retention emptied the table, the sealed
        base it left; (0, zeros) for a new ledger."""
        row = (
            self.conn.execute(
                "SELECT seq, record_hash FROM ratings ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            or self.conn.execute("SELECT seq, record_hash FROM ledger_base").fetchone()
        )
        return (row[0], row[1]) if row else (0, ZERO_HASH)

    def last_seq(self) -> int:
        return self._chain_end()[0]

    # -- the outbox's calls the sender and the benchmarks make on the ledger ------------

    def mark_delivered(
        self,
        statuses: dict[str, str],
        delivered_at: str,
        *,
        seqs: Mapping[str, int] | None = None,
    ) -> int:
        """See Outbox.mark_delivered."""
        return self.outbox.mark_delivered(statuses, delivered_at, seqs=seqs)

    def unsent(
        self,
        limit: int,
        vault: IdentityVault | None = None,
        max_bytes: int | None = None,
        *,
        after_seq: int = 0,
        resigner: Resigner | None = None,
    ) -> list[UnsentRating]:
        """See Outbox.unsent."""
        return self.outbox.unsent(limit, vault, max_bytes, after_seq=after_seq, resigner=resigner)

    def quarantine(self, rejections: dict[str, tuple[str, str]]) -> None:
        """See Outbox.quarantine."""
        self.outbox.quarantine(rejections)

    def backlog(self) -> int:
        """Ratings still to deliver (quarantined ones are counted apart)."""
        return self.outbox.backlog()

    def quarantined(self) -> int:
        return self.outbox.quarantined()
