"""The outbox: the ledger's ratings as the sync sees them — unsent ones in seq order, the
province's acknowledgements and rejections recorded, and the figures status and health show.

Delivered ratings lose their personal data in the transaction that marks them, which also
stores the province's receipt; rejected ones are quarantined with the province's code, never
resent blindly and never deleted. A rating whose personal data cannot be restored (its sealed
row gone, or not opening) is sent without it, signed anew by the device's current key
(`identity_losses`), and never holds up the ratings behind it; only a sync given no device
key to sign with keeps such a rating back, quarantined on the device as IDENTITY_LOST.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from device.keys.identity_vault import IdentityVault, VaultError
from device.ledger.connection import LedgerError
from device.ledger.identity_losses import NewLoss, Resigner, resign
from device.record.canonical import canonical_json
from device.record.rating import join_identity
from device.record.without_identity import IdentityLoss, substitute_bytes

if TYPE_CHECKING:
    from device.ledger.store import Ledger

log = logging.getLogger(__name__)
DELIVERED = ("accepted", "duplicate", "exported")
IDENTITY_LOST = "E_IDENTITY_LOST"  # kept back: personal data lost and no key to re-sign with
MARK_CHUNK = 100  # deliveries per transaction: the evaluator's commits never wait long
MARK_BY_ID = (
    "UPDATE ratings SET delivery = ?, delivered_at = ?, receipt = ?, received_at = ?"
    " WHERE evaluation_id = ? AND delivery IS NULL"
)
# a delivery mark no receipt proves: none kept, or a mark that is not an acknowledgement
UNPROVEN = "delivery IS NOT NULL AND (receipt IS NULL OR delivery NOT IN ('accepted', 'duplicate'))"
PURGE_BY_ID = (
    "DELETE FROM rater_identities WHERE seq = (SELECT seq FROM ratings WHERE evaluation_id = ?)"
)
MARK_BY_SEQ = (
    "UPDATE ratings SET delivery = ?, delivered_at = ?, receipt = ?, received_at = ?"
    " WHERE seq = ? AND evaluation_id = ? AND delivery IS NULL"
)
PURGE_BY_SEQ = (
    "DELETE FROM rater_identities WHERE seq ="
    " (SELECT seq FROM ratings WHERE seq = ? AND evaluation_id = ?)"
)


@dataclass(frozen=True)
class UnsentRating:
    """A rating waiting for delivery: the full signed wire record as its canonical JSON,
    which the sync sends as it is; `record` parses it for those who want a dict."""

    seq: int
    evaluation_id: str
    canonical: bytes

    @cached_property
    def record(self) -> dict[str, Any]:
        return json.loads(self.canonical)

    @property
    def record_id(self) -> str:
        return self.evaluation_id


@dataclass(frozen=True)
class QuarantinedRating:
    """A rating the province rejected, with its code and message."""

    seq: int
    evaluation_id: str
    project_no: str
    code: str
    message: str


@dataclass(frozen=True)
class Backlog:
    """How many ratings wait for delivery and the seq of the oldest, read together."""

    size: int
    oldest_seq: int | None


class Outbox:
    """The sync's way into one ledger: reads on its connection, writes in its transactions."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.conn = ledger.conn

    # -- what is to send ----------------------------------------------------------------

    def unsent(
        self,
        limit: int,
        vault: IdentityVault | None = None,
        max_bytes: int | None = None,
        *,
        after_seq: int = 0,
        resigner: Resigner | None = None,
    ) -> list[UnsentRating]:
        """The oldest undelivered ratings in seq order (those after *after_seq*), rebuilt into
        full wire records; at most *max_bytes* of canonical JSON (and a comma each), but
        always at least one rating.

        A row without personal data holds the full record's canonical JSON already: it is
        handed on as it is, neither parsed nor encoded again.

        A rating whose personal data cannot be restored is handed on without it, signed by
        *resigner*'s key; that record is stored (`identity_losses`) before it is handed on,
        and logged once, without personal data. With no *resigner* such a rating is set
        aside (quarantined as IDENTITY_LOST) and the ones behind it are read."""
        while True:
            rows = self.conn.execute(
                "SELECT r.seq, r.evaluation_id, CAST(r.record AS BLOB), r.has_identity,"
                " CAST(i.sealed AS BLOB), l.key_id, l.signature"
                " FROM ratings r LEFT JOIN rater_identities i ON i.seq = r.seq"
                " LEFT JOIN identity_losses l ON l.seq = r.seq"
                " WHERE r.delivery IS NULL AND r.quarantine_code IS NULL AND r.seq > ?"
                " ORDER BY r.seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
            out: list[UnsentRating] = []
            lost: dict[str, tuple[str, str]] = {}
            found: list[NewLoss] = []
            used = 0
            for seq, evaluation_id, *row in rows:
                wire = _wire(seq, evaluation_id, row, vault, resigner)
                if isinstance(wire, IdentityLoss):  # and no key to send it without
                    _log_kept_back(seq, evaluation_id, wire)
                    lost[evaluation_id] = (IDENTITY_LOST, _kept_back(wire))
                    continue
                if isinstance(wire, NewLoss):
                    found.append(wire)
                canonical = wire.canonical if isinstance(wire, NewLoss) else wire
                if max_bytes is not None:
                    used += len(canonical) + 1
                    if used > max_bytes and out:
                        break
                out.append(UnsentRating(seq, evaluation_id, canonical))
            if found and resigner is not None:  # on disk before any of it leaves
                self.ledger.identity_losses.keep(found, resigner)
                for loss in found:
                    _log_sent_without(loss)
            if lost:
                self.quarantine(lost)
            if out or not lost:
                return out

    def identity_lost(self) -> int:
        """Ratings kept on the device because their personal data cannot be restored and no
        device key was given to send them without it."""
        return self.conn.execute(
            "SELECT count(*) FROM ratings WHERE quarantine_code = ?", (IDENTITY_LOST,)
        ).fetchone()[0]

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the ledger: how the
        sync notices new ratings without polling the table."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    # -- what the province answered -----------------------------------------------------

    def mark_delivered(
        self,
        statuses: dict[str, str],
        delivered_at: str,
        *,
        seqs: Mapping[str, int] | None = None,
        receipts: Mapping[str, tuple[str, str]] | None = None,
        answers: Mapping[str, tuple[bytes, bytes]] | None = None,
    ) -> int:
        """Record the province's acknowledgements and delete the delivered personal data;
        returns how many ratings became delivered. *seqs* (evaluationId → seq, as unsent()
        gave them) spares looking each rating up by its evaluationId. *receipts*
        (evaluationId → (receipt, receivedAt)) are stored with the marks they prove;
        *answers* (digest → (payload, signature): a 国密 province's signed answers, which its
        receipts name) are stored first, in a transaction of their own, before any mark that
        names them (an answer left without a mark by a crash is removed by retention).

        A rating's mark and the deletion of its personal data share one transaction. A big
        batch is recorded in transactions of MARK_CHUNK ratings, so that the evaluator, which
        shares the file, never waits long for a key press to be stored."""
        if any(status not in DELIVERED for status in statuses.values()):
            raise ValueError(f"delivery status must be one of {DELIVERED}")
        keys: list[tuple[int | str, ...]]  # the WHERE parameters of each rating
        if seqs is None:
            mark, purge = MARK_BY_ID, PURGE_BY_ID
            keys = [(eid,) for eid in statuses]
        else:  # the row by its seq (rowid), and only if it is that rating
            mark, purge = MARK_BY_SEQ, PURGE_BY_SEQ
            keys = [(seqs[eid], eid) for eid in statuses]
        proofs = receipts or {}
        marks = [
            (status, delivered_at, *proofs.get(eid, (None, None)), *key)
            for (eid, status), key in zip(statuses.items(), keys, strict=True)
        ]
        changed = 0
        if answers:
            with self.ledger.writing("delivery not recorded"):
                self.conn.executemany(
                    "INSERT OR IGNORE INTO gm_answers (digest, payload, signature)"
                    " VALUES (?, ?, ?)",
                    [(digest, payload, sig) for digest, (payload, sig) in answers.items()],
                )
        for start in range(0, len(keys), MARK_CHUNK):
            with self.ledger.writing("delivery not recorded"):
                changed += self.conn.executemany(mark, marks[start : start + MARK_CHUNK]).rowcount
                purged = self.conn.executemany(purge, keys[start : start + MARK_CHUNK]).rowcount
            self.ledger.note_purged(purged)
        return changed

    def quarantine(self, rejections: dict[str, tuple[str, str]]) -> None:
        """Set rejected ratings aside with the province's code and message; never deleted."""
        with self.ledger.writing("quarantine not recorded"):
            self.conn.executemany(
                "UPDATE ratings SET quarantine_code = ?, quarantine_message = ?"
                " WHERE evaluation_id = ? AND delivery IS NULL",
                [(code, message, eid) for eid, (code, message) in rejections.items()],
            )

    def requeue(self, evaluation_id: str) -> bool:
        """Send a quarantined rating again (after the cause was fixed at the province)."""
        with self.ledger.writing("requeue not recorded"):
            changed = self.conn.execute(
                "UPDATE ratings SET quarantine_code = NULL, quarantine_message = NULL"
                " WHERE evaluation_id = ? AND quarantine_code IS NOT NULL",
                (evaluation_id,),
            ).rowcount
        return changed == 1

    def quarantined_ratings(self) -> list[QuarantinedRating]:
        rows = self.conn.execute(
            "SELECT seq, evaluation_id, project_no, quarantine_code, quarantine_message"
            " FROM ratings WHERE quarantine_code IS NOT NULL ORDER BY seq"
        ).fetchall()
        return [QuarantinedRating(*row) for row in rows]

    def delivery_of(self, evaluation_id: str) -> str | None:
        """'accepted', 'duplicate' or 'exported' once delivered; None before."""
        row = self.conn.execute(
            "SELECT delivery FROM ratings WHERE evaluation_id = ?", (evaluation_id,)
        ).fetchone()
        if row is None:
            raise KeyError(evaluation_id)
        return row[0]

    # -- figures for status, heartbeat and health ---------------------------------------

    def backlog(self) -> int:
        """Ratings still to deliver (quarantined ones are counted apart)."""
        return self.conn.execute(
            "SELECT count(*) FROM ratings WHERE delivery IS NULL AND quarantine_code IS NULL"
        ).fetchone()[0]

    def front(self) -> Backlog:
        """The backlog's size and its oldest seq, in one read."""
        size, oldest = self.conn.execute(
            "SELECT count(*), min(seq) FROM ratings"
            " WHERE delivery IS NULL AND quarantine_code IS NULL"
        ).fetchone()
        return Backlog(size, oldest)

    def quarantined(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM ratings WHERE quarantine_code IS NOT NULL"
        ).fetchone()[0]

    def unproven(self) -> int:
        """Ratings marked delivered without a receipt that could prove it: none kept (a
        version-1 province, delivered before receipts were kept, or a mark set by hand) or a
        mark no receipt can prove ('exported', or one no device sets). Receipts themselves
        are checked by verify-ledger."""
        return self.conn.execute(
            f"SELECT count(*) FROM ratings WHERE {UNPROVEN}"  # noqa: S608
        ).fetchone()[0]

    def unproven_events(self) -> int:
        """Case events marked delivered without a receipt that could prove it (as above)."""
        return self.conn.execute(
            f"SELECT count(*) FROM case_events WHERE {UNPROVEN}"  # noqa: S608
        ).fetchone()[0]

    def oldest_unsent_assess_time(self) -> str | None:
        """The assessTime (`yyyy-MM-dd HH:mm:ss`, Beijing) of the oldest unsent rating."""
        row = self.conn.execute(
            "SELECT json_extract(record, '$.assessTime') FROM ratings"
            " WHERE delivery IS NULL AND quarantine_code IS NULL ORDER BY seq LIMIT 1"
        ).fetchone()
        return None if row is None else row[0]

    def last_accepted_seq(self) -> int:
        """The newest seq the province took (accepted or duplicate); after retention removed
        every such row, the sealed base's seq; 0 before any."""
        last = self.conn.execute(
            "SELECT max(seq) FROM ratings WHERE delivery IN ('accepted', 'duplicate')"
        ).fetchone()[0]
        base = self.conn.execute("SELECT seq FROM ledger_base").fetchone()
        return last or (base[0] if base else 0)


def _wire(
    seq: int,
    evaluation_id: str,
    row: list[Any],
    vault: IdentityVault | None,
    resigner: Resigner | None,
) -> bytes | NewLoss | IdentityLoss:
    """A rating's bytes to send, from its stored record, sealed personal data and earlier
    identity loss (*row*): as stored, rebuilt with its personal data, sent without it as
    before, or newly without it (a NewLoss to keep); the reason alone when it lost its
    personal data and there is no key to send it without."""
    stored, has_identity, sealed, lost_key, lost_signature = row
    if not has_identity:
        return stored  # the record's canonical JSON (UTF-8), as stored
    if lost_key is not None:  # sent without it before: the very same bytes
        return substitute_bytes(json.loads(stored), lost_key, lost_signature)
    identity = _restore(seq, evaluation_id, sealed, vault)
    if not isinstance(identity, IdentityLoss):
        return canonical_json(join_identity(json.loads(stored), identity))
    if resigner is None:
        return identity
    return resign(seq, evaluation_id, stored, identity, resigner.key)


def _restore(
    seq: int, evaluation_id: str, sealed: bytes | None, vault: IdentityVault | None
) -> dict[str, Any] | IdentityLoss:
    """A rating's personal data opened, or why it cannot be."""
    if vault is None:
        raise LedgerError(f"rating seq {seq}: personal data cannot be restored: no identity key")
    if sealed is None:
        return IdentityLoss.SEALED_ROW_MISSING
    try:
        return vault.open(evaluation_id, sealed)
    except (VaultError, ValueError):  # a cut blob fails before authentication
        return IdentityLoss.DOES_NOT_OPEN


def _log_sent_without(loss: NewLoss) -> None:
    """The journal's one line for a rating sent without personal data (none in it)."""
    log.warning(
        "rating sent without personal data (identity lost): seq=%d evaluationId=%s"
        " reason=%s keyId=%s",
        loss.seq,
        loss.evaluation_id,
        loss.reason.value,
        loss.key_id,
    )


def _kept_back(reason: IdentityLoss) -> str:
    return f"personal data cannot be restored ({reason.text}) and no device key to re-sign"


def _log_kept_back(seq: int, evaluation_id: str, reason: IdentityLoss) -> None:
    log.error(
        "rating kept on the device, not sent (identity lost, no device key): seq=%d"
        " evaluationId=%s reason=%s",
        seq,
        evaluation_id,
        reason.value,
    )
