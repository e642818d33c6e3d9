"""Re-check a ledger: its keys, every seal and signature, the seq order and the prevHash chain.

Anchored (`expect_key_id`): only keys certified in a chain from the enrolled key are trusted.
With the province key, every rating and case event marked delivered must carry a receipt that
verifies under it; without it, only a mark no device sets is a finding (`delivery_proof`).
A rating sent without the personal data it lost (`identity_losses`) is checked as sent — its
new signature under a trusted key, its receipt over those bytes — and reported as a note.
`check_rows` is pure and reports every bad row; `verify_ledger` reads the file read-only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.keys.identity_vault import IdentityVault, VaultError
from device.keys.key_history import KeyEntry, anchored_chain, self_consistent
from device.keys.signing import public_key_from_b64, verify, verify_record
from device.ledger.case_events import EventRow
from device.ledger.connection import connect
from device.ledger.delivery_proof import NO_RECEIPT, DeliveryMark, GmProof, mark_problem
from device.ledger.event_verify import check_events, event_mark_problems
from device.ledger.gm_answers import kept_answers
from device.ledger.identity_key import KeyVerdict, judge
from device.ledger.loss_verify import SENT_WITHOUT_IDENTITY, SentInstead
from device.ledger.retention import base_bytes
from device.ledger.store import seal_bytes
from device.record.canonical import ZERO_HASH, canonical_json, record_hash
from device.record.rating import join_identity
from device.record.receipt import RecordKind

__all__ = [
    "NO_RECEIPT",
    "SENT_WITHOUT_IDENTITY",
    "WRONG_IDENTITY_KEY",
    "Finding",
    "LedgerRow",
    "Report",
    "SentInstead",
    "check_rows",
    "verify_ledger",
]
ROWS = (
    "SELECT r.seq, r.evaluation_id, r.record, r.record_hash, r.has_identity, r.seal,"
    " i.sealed, r.delivery, r.receipt, r.received_at, l.key_id, l.signature, l.reason"
    " FROM ratings r LEFT JOIN rater_identities i ON i.seq = r.seq"
    " LEFT JOIN identity_losses l ON l.seq = r.seq ORDER BY r.seq"
)
# older files: before receipts were kept (0004), before identity losses (0007)
ROWS_BEFORE_LOSSES = ROWS.replace("l.key_id, l.signature, l.reason", "NULL, NULL, NULL").replace(
    " LEFT JOIN identity_losses l ON l.seq = r.seq", ""
)
ROWS_BEFORE_RECEIPTS = ROWS_BEFORE_LOSSES.replace("r.receipt, r.received_at", "NULL, NULL")
EVENTS_MIGRATION = "0005_case_events"
WRONG_IDENTITY_KEY = (
    "the identity key given does not match the key that sealed the personal data held: "
    "personal data not checked"
)  # the migration that created the case_events table


@dataclass(frozen=True)
class LedgerRow:
    seq: int
    evaluation_id: str
    record_text: str
    record_hash: str
    has_identity: bool
    seal: str
    sealed_identity: bytes | None
    delivery: str | None = None  # accepted, duplicate, exported; None before delivery
    receipt: str | None = None  # the province's signature over what it acknowledged
    received_at: str | None = None
    sent_instead: SentInstead | None = None  # sent without the personal data it lost


@dataclass(frozen=True)
class Finding:
    seq: int  # 0 when the finding is about the file or its keys, not one rating
    problem: str


@dataclass(frozen=True)
class Report:
    rows: int
    fully_verified: int  # rows whose wire signature could be re-checked too
    findings: tuple[Finding, ...] = ()
    anchored: bool = False  # keys checked against a key id given from outside the file
    receipts_checked: bool = False  # delivered rows' receipts checked under the province key
    events: int = 0  # case events checked (their own chain)
    notes: tuple[Finding, ...] = ()  # not problems: ratings sent without personal data

    @property
    def sent_without_identity(self) -> int:
        return len(self.notes)

    @property
    def first_bad(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    @property
    def ok(self) -> bool:
        return not self.findings


def _check_one(
    row: LedgerRow,
    expected_seq: int,
    prev_hash: str,
    keys: dict[str, str],
    vault: IdentityVault | None,
    device_id: str | None = None,
) -> tuple[str | None, bool]:
    """(problem or None, whether the wire signature was checked)."""
    if row.seq != expected_seq:
        return f"row missing before seq {row.seq} (expected seq {expected_seq})", False
    try:
        redacted: dict[str, Any] = json.loads(row.record_text)
    except ValueError:
        return "stored record is not JSON", False
    if not isinstance(redacted, dict):
        return "stored record is not an object", False
    if canonical_json(redacted).decode("utf-8") != row.record_text:
        return "stored record is not in canonical form", False
    public_b64 = keys.get(str(redacted.get("keyId")))
    if public_b64 is None:
        return f"signed by unknown key {redacted.get('keyId')!r}", False
    public = public_key_from_b64(public_b64)
    if not verify(public, row.seal, seal_bytes(redacted, row.record_hash, row.has_identity)):
        return "device seal does not match the stored record", False
    if redacted.get("seq") != row.seq or redacted.get("evaluationId") != row.evaluation_id:
        return "record does not belong at this position", False
    if device_id is not None and redacted.get("deviceId") != device_id:
        return f"record names device {redacted.get('deviceId')!r}, not {device_id!r}", False
    if redacted.get("prevHash") != prev_hash:
        return "prevHash does not match the previous rating (chain broken)", False
    return _check_signed(row, redacted, public, vault, keys)


def _check_signed(
    row: LedgerRow,
    redacted: dict[str, Any],
    public: Ed25519PublicKey,
    vault: IdentityVault | None,
    keys: dict[str, str],
) -> tuple[str | None, bool]:
    """Re-check the wire signature and hash where the full record can be rebuilt; for a
    rating sent without its lost personal data, the record that was sent instead."""
    if row.sent_instead is not None:
        return row.sent_instead.problem(redacted, row.has_identity, keys), False
    if row.has_identity and (row.sealed_identity is None or vault is None):
        return None, False  # personal data purged after delivery, or no key to open it
    full = redacted
    if row.has_identity and row.sealed_identity is not None and vault is not None:
        try:
            full = join_identity(redacted, vault.open(row.evaluation_id, row.sealed_identity))
        except (VaultError, ValueError, TypeError):
            return "encrypted personal data fails authentication", False
    if not verify_record(public, full):
        return "record signature is invalid", False
    if record_hash(full) != row.record_hash:
        return "record hash does not match the signed record", False
    return None, True


def sent_hash(row: LedgerRow) -> str:
    """The SHA-256 of the bytes the province got: the stored hash, or for a rating sent
    without its lost personal data, the hash of what was sent instead."""
    if row.sent_instead is None:
        return row.record_hash
    return row.sent_instead.sent_hash(row.record_text)


def receipt_problem(
    row: LedgerRow,
    province_key: str | None,
    device_id: str | None = None,
    gm: GmProof | None = None,
) -> str | None:
    """What is wrong with a rating's delivery mark (see `delivery_proof.mark_problem`), None
    when it is unmarked or proven. The receipt must name *device_id* when it is known (from
    the file's keys), else the device the record names."""
    if device_id is None:
        device_id = _named(row.record_text)
    mark = DeliveryMark(
        RecordKind.RATING,
        row.evaluation_id,
        row.seq,
        sent_hash(row),
        row.delivery,
        row.receipt,
        row.received_at,
    )
    return mark_problem(mark, device_id, province_key, gm)


def check_rows(
    rows: Iterable[LedgerRow],
    keys: dict[str, str],
    vault: IdentityVault | None = None,
    base: tuple[int, str] = (0, ZERO_HASH),
    *,
    device_id: str | None = None,
    province_key: str | None = None,
    gm: GmProof | None = None,
) -> Report:
    """Check rows in seq order and report every bad one; *base* is (seq, hash) of the last
    row retention removed. After a bad row the chain is followed on from that row. With
    *province_key* (or *gm*, a 国密 province's SM2 key and kept answers), a delivered row
    without a valid receipt is a finding too; a delivery mark no device sets is one always."""
    count = full = 0
    findings: list[Finding] = []
    notes: list[Finding] = []
    expected, prev_hash = base[0] + 1, base[1]
    for row in rows:
        count += 1
        try:
            problem, checked = _check_one(row, expected, prev_hash, keys, vault, device_id)
        except Exception as exc:  # a hostile file gives a finding, never a traceback
            problem, checked = f"row cannot be checked: {type(exc).__name__}", False
        if problem:
            findings.append(Finding(row.seq, problem))
        elif row.sent_instead is not None:
            notes.append(Finding(row.seq, row.sent_instead.note()))
        try:
            mark = receipt_problem(row, province_key, device_id, gm)
        except Exception as exc:  # a hostile file gives a finding, never a traceback
            mark = f"delivery mark cannot be checked: {type(exc).__name__}"
        if mark:
            findings.append(Finding(row.seq, mark))
        full += checked
        expected, prev_hash = row.seq + 1, row.record_hash
    return Report(
        count,
        full,
        tuple(findings),
        receipts_checked=province_key is not None or gm is not None,
        notes=tuple(notes),
    )


def _base(conn: sqlite3.Connection, keys: dict[str, str]) -> tuple[tuple[int, str], Finding | None]:
    """Where the chain starts: seq 0 and zeros, or the last row retention removed; with a
    finding when that base does not carry a valid device seal (the chain is still followed
    from it, so every other check runs too)."""
    row = conn.execute("SELECT seq, record_hash, key_id, seal FROM ledger_base").fetchone()
    if row is None:
        return (0, ZERO_HASH), None
    seq, record_hash, key_id, seal = row
    public_b64 = keys.get(key_id)
    try:
        sealed = public_b64 is not None and verify(
            public_key_from_b64(public_b64), seal, base_bytes(seq, record_hash)
        )
    except (ValueError, TypeError):
        sealed = False
    try:
        base = (int(seq), str(record_hash))
    except (ValueError, TypeError):
        base = (0, ZERO_HASH)
    if not sealed:
        problem = f"retention base (up to seq {seq}) does not carry a valid device seal"
        return base, Finding(0, problem)
    return base, None


def _key_entries(conn: sqlite3.Connection) -> tuple[list[KeyEntry], str | None]:
    """The keys the file lists, and the device id its key rows name (if any)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(device_keys)")}
    if "certificate" not in columns:  # a ledger from before key history was kept
        rows = conn.execute("SELECT key_id, public_key FROM device_keys ORDER BY rowid")
        return [KeyEntry(str(k), str(p)) for k, p in rows], None
    rows = conn.execute(
        "SELECT key_id, public_key, previous_key_id, issued_at, certificate, device_id"
        " FROM device_keys ORDER BY rowid"
    )
    entries, device_ids = [], set()
    for key_id, public, previous, issued, certificate, device_id in rows:
        entries.append(KeyEntry(str(key_id), str(public), previous, issued, certificate))
        if device_id:
            device_ids.add(device_id)
    if len(device_ids) > 1:
        raise _MixedDevicesError(sorted(device_ids))
    return entries, (device_ids.pop() if device_ids else None)


class _MixedDevicesError(Exception):
    def __init__(self, device_ids: list[str]) -> None:
        super().__init__(f"keys of more than one device in one ledger: {', '.join(device_ids)}")


def _record_device_id(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT record FROM ratings ORDER BY seq LIMIT 1").fetchone()
    if row is None:
        return None
    try:
        value = json.loads(row[0]).get("deviceId")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _integrity(conn: sqlite3.Connection) -> list[Finding]:
    answers = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if answers == ["ok"]:
        return []
    return [Finding(0, f"SQLite integrity check: {answer}") for answer in answers[:20]]


def verify_ledger(
    path: Path,
    vault: IdentityVault | None = None,
    *,
    expect_key_id: str | None = None,
    province_key: str | None = None,
    province_sm2_key: str | None = None,
) -> Report:
    """Re-check the whole file. With `expect_key_id` (the enrolled key, known from outside the
    file) only keys certified in a chain from it are trusted; without it the result only says
    the file is consistent with itself. With `province_key` (base64, pinned at enrolment or
    asked of the province) every delivered row's receipt is checked; without it, none is.
    With `province_sm2_key` (a 国密 province's, hex) every delivered rating must be
    acknowledged by an answer kept in the file and signed by that key."""
    if not path.exists():
        raise FileNotFoundError(f"no ledger at {path}")
    try:
        conn = connect(path, readonly=True)
    except sqlite3.DatabaseError as exc:
        return Report(0, 0, (Finding(0, f"ledger unreadable: {exc}"),))
    try:
        return _verify(conn, vault, expect_key_id, province_key, province_sm2_key)
    except sqlite3.DatabaseError as exc:
        return Report(0, 0, (Finding(0, f"ledger unreadable: {exc}"),))
    finally:
        conn.close()


def _verify(
    conn: sqlite3.Connection,
    vault: IdentityVault | None,
    expect_key_id: str | None,
    province_key: str | None,
    province_sm2_key: str | None = None,
) -> Report:
    findings = _integrity(conn)
    try:
        entries, key_device_id = _key_entries(conn)
    except _MixedDevicesError as exc:
        return Report(0, 0, (*findings, Finding(0, str(exc))), expect_key_id is not None)
    device_id = key_device_id or _record_device_id(conn) or ""
    if expect_key_id is None:
        chain = self_consistent(entries)
    else:
        chain = anchored_chain(entries, expect_key_id, device_id)
    findings += [Finding(0, problem) for problem in chain.problems]
    if vault is not None and _sealed_by_another_key(conn, vault):
        findings.append(Finding(0, WRONG_IDENTITY_KEY))
        vault = None  # one finding, not one per rating it cannot open
    keys = chain.public_keys()
    base, base_finding = _base(conn, keys)
    if base_finding is not None:
        findings.append(base_finding)
    cursor = conn.execute(_rows_query(conn))
    rows = (
        LedgerRow(
            seq,
            eid,
            text,
            digest,
            bool(has),
            seal,
            sealed,
            delivery,
            receipt,
            received,
            None if lost_key is None else SentInstead(str(lost_key), str(lost_sig), str(why)),
        )
        for (
            seq,
            eid,
            text,
            digest,
            has,
            seal,
            sealed,
            delivery,
            receipt,
            received,
            lost_key,
            lost_sig,
            why,
        ) in cursor
    )
    gm = GmProof(province_sm2_key, kept_answers(conn)) if province_sm2_key else None
    report = check_rows(
        rows, keys, vault, base, device_id=device_id or None, province_key=province_key, gm=gm
    )
    events, event_findings = _events(conn, keys, device_id or None, province_key)
    return Report(
        report.rows,
        report.fully_verified,
        (*findings, *report.findings, *event_findings),
        expect_key_id is not None,
        report.receipts_checked,
        events,
        report.notes,
    )


def _sealed_by_another_key(conn: sqlite3.Connection, vault: IdentityVault) -> bool:
    """Whether the file names another key than *vault* as the one that sealed the personal
    data it holds (a file from before migration 0008 names none)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if "identity_key_check" not in tables:
        return False
    recorded = conn.execute("SELECT key_check FROM identity_key_check").fetchone()
    held = conn.execute("SELECT EXISTS (SELECT 1 FROM rater_identities)").fetchone()[0]
    if recorded is None or not held:
        return False
    return judge(str(recorded[0]), vault.key_check, 1, lambda: True) is KeyVerdict.DOES_NOT_MATCH


def _rows_query(conn: sqlite3.Connection) -> str:
    """The rows query for this file's schema (older files lack later columns and tables)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(ratings)")}
    if "receipt" not in columns:
        return ROWS_BEFORE_RECEIPTS
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    return ROWS if "identity_losses" in tables else ROWS_BEFORE_LOSSES


def _events(
    conn: sqlite3.Connection,
    keys: dict[str, str],
    device_id: str | None,
    province_key: str | None,
) -> tuple[int, list[Finding]]:
    """The case events' own chain and delivery marks; a finding's seq is 0 (it is not a
    rating), its text names the eventSeq."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if "case_events" not in tables:
        if _applied(conn, tables, EVENTS_MIGRATION):
            return 0, [Finding(0, f"case events table missing ({EVENTS_MIGRATION} was applied)")]
        return 0, []  # a ledger from before case events were chained
    cursor = conn.execute(
        "SELECT event_seq, event_id, event, event_hash FROM case_events ORDER BY event_seq"
    )
    count, problems = check_events((EventRow(*row) for row in cursor), keys, device_id)
    marks = conn.execute(
        "SELECT event_id, event_seq, event_hash, delivery, receipt, received_at, event"
        " FROM case_events WHERE delivery IS NOT NULL ORDER BY event_seq"
    )
    problems += event_mark_problems(
        ((DeliveryMark(RecordKind.EVENT, *row[:6]), device_id or _named(row[6])) for row in marks),
        province_key,
    )
    problems.sort(key=lambda problem: problem[0])
    return count, [Finding(0, f"case event {seq}: {problem}") for seq, problem in problems]


def _named(text: str) -> str:
    """The device a stored record or event names ("" when it cannot be read)."""
    try:
        value = json.loads(text).get("deviceId")
    except (ValueError, TypeError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def _applied(conn: sqlite3.Connection, tables: set[str], migration: str) -> bool:
    if "_migrations" not in tables:
        return False
    found = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (migration,)).fetchone()
    return found is not None
