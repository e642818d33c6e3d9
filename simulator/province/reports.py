"""What the province's officer page shows, read from the store: devices with their latest
heartbeat, the latest and the bad ratings, and satisfaction per staff member and per item.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GOOD_LEVELS = (4, 5)
BAD_LEVELS = (1, 2)


@dataclass
class Satisfaction:
    """Ratings of one staff member, item, or everything: counts per level and shares."""

    key: str | None
    name: str | None = None
    counts: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, 6), 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, levels: Iterable[int]) -> float:
        """Percentage of ratings at *levels* (0 when there are none)."""
        total = self.total
        return 100 * sum(self.counts[level] for level in levels) / total if total else 0.0

    @property
    def satisfied_pct(self) -> float:
        return self.share(GOOD_LEVELS)

    @property
    def bad_pct(self) -> float:
        return self.share(BAD_LEVELS)


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    serial: str
    site: dict[str, Any]
    enrolled_at: float
    heartbeat_at: float | None
    heartbeat: dict[str, Any] | None
    audit_flags: int
    evaluations: int


@dataclass(frozen=True)
class RatingRow:
    record: dict[str, Any]  # the record as the device signed it
    received_at: float


class Reports:
    """Read-only queries for the officer page; aggregates over the stored canonical JSON.

    Its own read-only connection sees one snapshot (WAL) and never holds up the writer.
    """

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        self._conn.isolation_level = None
        self._conn.execute("BEGIN")

    def __enter__(self) -> Reports:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def devices(self) -> list[DeviceRow]:
        rows = self.query(
            "SELECT d.device_id, d.serial, d.site, d.enrolled_at, h.received_at, h.body, "
            "(SELECT COUNT(*) FROM audit_flags a WHERE a.device_id = d.device_id), "
            "(SELECT COUNT(*) FROM evaluations e WHERE e.device_id = d.device_id) "
            "FROM devices d LEFT JOIN heartbeats h ON h.device_id = d.device_id "
            "ORDER BY d.enrolled_at, d.device_id"
        )
        return [_device_row(row) for row in rows]

    def latest_ratings(self, limit: int = 50) -> list[RatingRow]:
        rows = self.query(
            "SELECT canonical, received_at FROM evaluations ORDER BY rowid DESC LIMIT ?", (limit,)
        )
        return [RatingRow(json.loads(canonical), received) for canonical, received in rows]

    def bad_ratings(self, limit: int = 50) -> list[RatingRow]:
        """差评: ratings of 1 or 2, newest first."""
        rows = self.query(
            "SELECT canonical, received_at FROM evaluations WHERE satisfaction <= 2 "
            "ORDER BY rowid DESC LIMIT ?",
            (limit,),
        )
        return [RatingRow(json.loads(canonical), received) for canonical, received in rows]

    def overall(self) -> Satisfaction:
        overall = Satisfaction(None)
        for level, count in self.query(
            "SELECT satisfaction, COUNT(*) FROM evaluations GROUP BY satisfaction"
        ):
            overall.counts[level] = count
        return overall

    def by_staff(self, limit: int = 100) -> list[Satisfaction]:
        """Per staff number (proManagerNo; None for self-service), most rated first."""
        rows = self.query(
            "SELECT json_extract(canonical, '$.proManagerNo'), "
            "MAX(json_extract(canonical, '$.proManager')), satisfaction, COUNT(*) "
            "FROM evaluations GROUP BY 1, satisfaction"
        )
        return _grouped(rows, limit)

    def by_item(self, limit: int = 100) -> list[Satisfaction]:
        """Per item name (taskName), most rated first."""
        rows = self.query(
            "SELECT json_extract(canonical, '$.taskName'), "
            "MAX(json_extract(canonical, '$.taskCode')), satisfaction, COUNT(*) "
            "FROM evaluations GROUP BY 1, satisfaction"
        )
        return _grouped(rows, limit)

    def tag_labels(self, shipped: dict[str, str], current: dict[str, str]) -> dict[str, str]:
        """Tag code → label: the shipped list, then every published one, then the current."""
        labels = dict(shipped)
        for (body,) in self.query("SELECT body FROM tag_lists ORDER BY rowid"):
            for tags in json.loads(body).get("levels", {}).values():
                labels.update({tag["code"]: tag["label"] for tag in tags})
        labels.update(current)
        return labels


def _device_row(row: tuple[Any, ...]) -> DeviceRow:
    device_id, serial, site, enrolled_at, heartbeat_at, heartbeat, flags, evaluations = row
    return DeviceRow(
        device_id=device_id,
        serial=serial,
        site=json.loads(site),
        enrolled_at=enrolled_at,
        heartbeat_at=heartbeat_at,
        heartbeat=json.loads(heartbeat) if heartbeat is not None else None,
        audit_flags=flags,
        evaluations=evaluations,
    )


def _grouped(rows: Iterable[tuple[Any, ...]], limit: int) -> list[Satisfaction]:
    groups: dict[Any, Satisfaction] = {}
    for key, name, level, count in rows:
        group = groups.setdefault(key, Satisfaction(key, name))
        group.name = group.name or name
        group.counts[level] += count
    ranked = sorted(groups.values(), key=lambda g: (-g.total, str(g.key)))
    return ranked[:limit]
