"""The monthly export adapter, for provinces without real-time sync: ratings go to one CSV
file per month (by assessTime), UTF-8 with BOM, rewritten atomically each round.

A rating already in its month's file answers `duplicate`, so a round cut short by a crash
is safe to repeat.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from device.keys.private_file import write_private
from sync.adapter import Delivery, DeliveryStatus, OutgoingRecord
from sync.gbt39046 import header, row

EVALUATION_ID = 0  # the first column


class MonthlyExport:
    name = "monthly-export"
    max_records = 500
    max_bytes = 4 * 1024 * 1024

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, assess_time: str) -> Path:
        return self.directory / f"haochaping-{assess_time[:4]}{assess_time[5:7]}.csv"

    def deliver(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        """Each record parsed from its canonical bytes into its month's file, in order."""
        by_month: dict[Path, list[dict[str, Any]]] = {}
        for outgoing in records:
            record = json.loads(outgoing.canonical)
            by_month.setdefault(self.path_for(record["assessTime"]), []).append(record)
        statuses: dict[str, DeliveryStatus] = {}
        for path, month in by_month.items():
            rows = self._read(path)
            present = {r[EVALUATION_ID] for r in rows}
            for record in month:
                eid = record["evaluationId"]
                if eid in present:
                    statuses[eid] = DeliveryStatus.DUPLICATE
                else:
                    statuses[eid] = DeliveryStatus.EXPORTED
                    rows.append(row(record))
                    present.add(eid)
            self._write(path, rows)
        return [Delivery(r.evaluation_id, statuses[r.evaluation_id]) for r in records]

    def _read(self, path: Path) -> list[list[str]]:
        if not path.exists():
            return []
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.reader(f))[1:]

    def _write(self, path: Path, rows: list[list[str]]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header())
        writer.writerows(rows)
        write_private(path, ("\ufeff" + buffer.getvalue()).encode("utf-8"))

    def close(self) -> None:
        return None
