"""The stand-in province's case events (spec v1.1): stored events, their chain flags, and the
suppression flags — a bad level pressed on a case that was cancelled, replaced or signed out,
followed by a rating of the same case. The only SQL about events in the stand-in.

Suppression is computed when asked, from both tables, so it does not matter whether the
event or the rating arrived first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from device.record.case_event import SUPPRESSING
from simulator.province.store import ProvinceStore

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS case_events (event_id TEXT PRIMARY KEY, device_id TEXT NOT NULL,"
    " event_seq INTEGER NOT NULL, prev_hash TEXT NOT NULL, event_hash TEXT NOT NULL,"
    " kind TEXT NOT NULL, project_no TEXT NOT NULL, assess_number INTEGER NOT NULL,"
    " level_pressed INTEGER, ended_at TEXT NOT NULL, pro_manager_no TEXT, pro_manager TEXT,"
    " canonical TEXT NOT NULL, received_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS case_events_seq ON case_events(device_id, event_seq)",
    "CREATE TABLE IF NOT EXISTS case_event_cases (event_id TEXT NOT NULL,"
    " project_no TEXT NOT NULL, PRIMARY KEY (event_id, project_no))",
    "CREATE INDEX IF NOT EXISTS case_event_cases_no ON case_event_cases(project_no)",
    "CREATE TABLE IF NOT EXISTS case_event_flags (id INTEGER PRIMARY KEY, device_id TEXT,"
    " kind TEXT, event_seq INTEGER, event_id TEXT, detail TEXT, flagged_at REAL)",
)
_SUPPRESSING = ",".join(f"'{kind.value}'" for kind in sorted(SUPPRESSING))
SUPPRESSION_SQL = (
    "SELECT DISTINCT e.device_id, e.event_id, e.kind, e.project_no, e.assess_number,"  # noqa: S608
    " e.level_pressed, e.ended_at, e.pro_manager_no, e.pro_manager, v.evaluation_id,"
    " json_extract(v.canonical, '$.assessTime') FROM case_events e"
    " JOIN case_event_cases c ON c.event_id = e.event_id"
    " JOIN rated_cases r ON r.project_no = c.project_no AND r.assess_number = e.assess_number"
    " JOIN evaluations v ON v.evaluation_id = r.evaluation_id"
    f" WHERE e.kind IN ({_SUPPRESSING}) AND e.level_pressed IN (1, 2)"
    " AND json_extract(v.canonical, '$.assessTime') >= e.ended_at"
    " ORDER BY e.ended_at"
)


@dataclass(frozen=True)
class CheckedEvent:
    event_id: str
    device_id: str
    event_seq: int
    prev_hash: str
    event_hash: str
    kind: str
    project_no: str
    cases: tuple[str, ...]
    assess_number: int
    level_pressed: int | None
    ended_at: str
    pro_manager_no: str | None
    pro_manager: str | None
    canonical: str


class EventStore:
    """Case events in the province's file, on its connection and lock."""

    def __init__(self, store: ProvinceStore) -> None:
        self.store = store
        with store._transaction() as conn:  # the same file, connection and lock
            for statement in SCHEMA:
                conn.execute(statement)

    def received_times(self, event_ids: list[str]) -> dict[str, float]:
        """When each event was first stored (Unix seconds): what its receipt says."""
        if not event_ids:
            return {}
        marks = ",".join("?" * len(event_ids))
        rows = self.store.query(
            f"SELECT event_id, received_at FROM case_events WHERE event_id IN ({marks})",  # noqa: S608
            event_ids,
        )
        return {event_id: float(at) for event_id, at in rows}

    def stored_canonical(self, event_ids: Iterable[str]) -> dict[str, str]:
        ids = list(event_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.store.query(
            f"SELECT event_id, canonical FROM case_events WHERE event_id IN ({marks})",  # noqa: S608
            ids,
        )
        return dict(rows)

    def add(self, events: list[CheckedEvent], now: float) -> list[str]:
        """Store new events in one transaction; 'accepted' or 'duplicate' for each (same
        eventId, same bytes), or 'conflict' (same eventId, other bytes: not stored)."""
        out: list[str] = []
        with self.store._transaction() as conn:
            for event in events:
                row = conn.execute(
                    "SELECT canonical FROM case_events WHERE event_id = ?", (event.event_id,)
                ).fetchone()
                if row is not None:
                    out.append("duplicate" if row[0] == event.canonical else "conflict")
                    continue
                self._flag_chain(conn, event, now)
                conn.execute(
                    "INSERT INTO case_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.event_id,
                        event.device_id,
                        event.event_seq,
                        event.prev_hash,
                        event.event_hash,
                        event.kind,
                        event.project_no,
                        event.assess_number,
                        event.level_pressed,
                        event.ended_at,
                        event.pro_manager_no,
                        event.pro_manager,
                        event.canonical,
                        now,
                    ),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO case_event_cases VALUES (?, ?)",
                    [(event.event_id, number) for number in event.cases],
                )
                out.append("accepted")
        return out

    @staticmethod
    def _flag_chain(conn: Any, event: CheckedEvent, now: float) -> None:
        """Gaps and forks in eventSeq/prevHash are stored and flagged, never refused."""
        flags: list[tuple[str, str]] = []
        same = conn.execute(
            "SELECT event_id FROM case_events WHERE device_id = ? AND event_seq = ?",
            (event.device_id, event.event_seq),
        ).fetchone()
        if same is not None:
            flags.append(("event_fork", f"eventSeq {event.event_seq} already held by {same[0]}"))
        if event.event_seq > 1:
            before = conn.execute(
                "SELECT event_hash FROM case_events WHERE device_id = ? AND event_seq = ?",
                (event.device_id, event.event_seq - 1),
            ).fetchone()
            if before is None:
                flags.append(("event_gap", f"eventSeq {event.event_seq - 1} not received"))
            elif before[0] != event.prev_hash:
                flags.append(("event_chain_break", "prevHash is not the previous event's hash"))
        after = conn.execute(
            "SELECT event_id, prev_hash FROM case_events WHERE device_id = ? AND event_seq = ?",
            (event.device_id, event.event_seq + 1),
        ).fetchone()
        if after is not None and after[1] != event.event_hash:
            flags.append(("event_chain_break", f"the next event {after[0]} does not chain"))
        conn.executemany(
            "INSERT INTO case_event_flags (device_id, kind, event_seq, event_id, detail,"
            " flagged_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(event.device_id, k, event.event_seq, event.event_id, d, now) for k, d in flags],
        )

    # -- reading ------------------------------------------------------------------------

    def chain_flags(self, device_id: str | None = None) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT device_id, kind, event_seq, event_id, detail, flagged_at"
            " FROM case_event_flags WHERE ? IS NULL OR device_id = ? ORDER BY id",
            (device_id, device_id),
        )
        names = ("deviceId", "kind", "eventSeq", "eventId", "detail", "flaggedAt")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def suppressions(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Ratings that follow a cancelled/replaced/signed-out case with a bad level pressed:
        flagged for review, whichever arrived first."""
        names = (
            "deviceId",
            "eventId",
            "kind",
            "projectNo",
            "assessNumber",
            "levelPressed",
            "endedAt",
            "proManagerNo",
            "proManager",
            "evaluationId",
            "assessTime",
        )
        rows = [dict(zip(names, row, strict=True)) for row in self.store.query(SUPPRESSION_SQL)]
        return [r for r in rows if device_id is None or r["deviceId"] == device_id]

    def per_staff(self) -> list[dict[str, Any]]:
        """Per staff member: cases not rated, bad levels pressed without a reason."""
        rows = self.store.query(
            "SELECT pro_manager_no, pro_manager, count(*),"
            " sum(kind = 'no_reason'), sum(level_pressed IN (1, 2))"
            " FROM case_events GROUP BY pro_manager_no, pro_manager ORDER BY count(*) DESC"
        )
        names = ("proManagerNo", "proManager", "notRated", "noReason", "badPressed")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def events(self, device_id: str) -> list[str]:
        rows = self.store.query(
            "SELECT canonical FROM case_events WHERE device_id = ? ORDER BY event_seq",
            (device_id,),
        )
        return [row[0] for row in rows]
