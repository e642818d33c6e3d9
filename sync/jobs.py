"""The sync's timed jobs (APScheduler): heartbeat, tag-list refresh and retention. Each run
opens its own ledger connection and HTTP session, apart from the delivery loop's.

A device's heartbeats keep one random phase within the interval, drawn at start: a hall
whose power comes back, or a fleet updated at once, does not beat in step forever after.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from device.daemon.clock import SystemClock
from device.daemon.config import Config
from device.keys.private_file import write_private
from device.keys.signing import DeviceKey
from device.ledger.retention import prune_delivered, prune_outcomes
from device.ledger.store import Ledger
from device.record import tag_catalog
from device.record.rating import assess_time
from sync.province_client import ProvinceClient, ProvinceError

log = logging.getLogger(__name__)


def _uptime_s() -> int:
    try:
        return int(float(Path("/proc/uptime").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return 0


def _evaluator_status(config: Config) -> dict[str, Any]:
    """The evaluator's own status (keypad), asked over its local API; empty if it is down."""
    api = config.local_api
    host = "127.0.0.1" if api.bind in ("0.0.0.0", "") else api.bind  # noqa: S104
    try:
        response = requests.get(
            f"http://{host}:{api.port}/api/v1/status",
            timeout=2,
            headers={"Authorization": f"Bearer {api.token}"},
        )
        return response.json() if response.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        return {}


def heartbeat_body(config: Config, ledger: Ledger) -> dict[str, Any]:
    disk = os.statvfs(config.state_dir)
    return {
        "firmwareVersion": config.device.firmware_version,
        "backlog": ledger.outbox.backlog(),
        "quarantined": ledger.outbox.quarantined(),
        "lastAcceptedSeq": ledger.outbox.last_accepted_seq(),
        "keypadConnected": _evaluator_status(config).get("keypadConnected"),
        "clockSynced": SystemClock().synced(),
        "diskFreeBytes": disk.f_bavail * disk.f_frsize,
        "uptimeSeconds": _uptime_s(),
    }


class Jobs:
    def __init__(
        self,
        config: Config,
        key: DeviceKey,
        scheduler: BaseScheduler | None = None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        """*scheduler*: one shared with other jobs, started and stopped by its owner (the
        fleet benchmark runs many devices on one); by default a scheduler of its own."""
        self.config = config
        self.key = key
        self._owns_scheduler = scheduler is None
        self.scheduler = scheduler or BackgroundScheduler(timezone="UTC")
        self.uniform = uniform
        self.tags_version: str | None = tag_catalog.load(config.state_dir).version

    def _client(self) -> ProvinceClient:
        p = self.config.province
        return ProvinceClient(
            p.base_url,
            p.device_id,
            self.key,
            ca_bundle=p.ca_bundle,
            connect_timeout_s=self.config.sync.connect_timeout_s,
            read_timeout_s=self.config.sync.read_timeout_s,
        )

    def start(self) -> None:
        s = self.config.sync
        now = datetime.now(UTC)
        first_beat = now + timedelta(seconds=self.uniform(0.0, s.heartbeat_s))
        self.scheduler.add_job(
            self._guard(self.retention),
            "interval",
            hours=1,
            next_run_time=now,
            id=self._job_id("retention"),
        )
        if s.adapter == "gm-soap":  # a 国密 province: heartbeats only (it has no tag lists)
            self.scheduler.add_job(
                self._guard(self.heartbeat),
                "interval",
                seconds=s.heartbeat_s,
                next_run_time=first_beat,
                id=self._job_id("heartbeat"),
                max_instances=1,
                coalesce=True,
            )
        if s.adapter == "province-v1":
            self.scheduler.add_job(
                self._guard(self.heartbeat),
                "interval",
                seconds=s.heartbeat_s,
                next_run_time=first_beat,
                id=self._job_id("heartbeat"),
                max_instances=1,
                coalesce=True,
            )
            self.scheduler.add_job(
                self._guard(self.refresh_tags),
                "interval",
                seconds=s.tags_refresh_s,
                id=self._job_id("tags"),
                max_instances=1,
                coalesce=True,
            )
        if self._owns_scheduler:
            self.scheduler.start()

    def stop(self) -> None:
        if not self._owns_scheduler:
            for name in ("retention", "heartbeat", "tags"):
                if self.scheduler.get_job(self._job_id(name)) is not None:
                    self.scheduler.remove_job(self._job_id(name))
        elif self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def _job_id(self, name: str) -> str:
        return name if self._owns_scheduler else f"{name}-{self.config.province.device_id}"

    def _guard(self, job: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except (ProvinceError, OSError, ValueError) as exc:
                log.warning("%s failed: %s", job.__name__, exc)

        run.__name__ = job.__name__
        return run

    def heartbeat(self) -> dict[str, Any]:
        with Ledger(self.config.ledger_path) as ledger:
            body = heartbeat_body(self.config, ledger)
        if self.config.sync.adapter == "gm-soap":
            return self._gm_heartbeat(body)
        client = self._client()
        try:
            answer = client.call(
                "POST", f"/devices/{self.config.province.device_id}/heartbeat", body
            )
        finally:
            client.close()
        if isinstance(answer, dict) and answer.get("tagsVersion") not in (None, self.tags_version):
            self.refresh_tags()
        return answer

    def _gm_heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        from sync.gm import calls  # noqa: PLC0415 (only a 国密 device needs it)
        from sync.gm.setup import gm_client  # noqa: PLC0415

        client = gm_client(self.config)
        try:
            return {"serverTime": calls.heartbeat(client, body)}
        finally:
            client.close()

    def refresh_tags(self) -> str:
        """Fetch the province's tag lists and keep them for the evaluator (offline too)."""
        client = self._client()
        try:
            data = client.call("GET", f"/devices/{self.config.province.device_id}/tags")
        finally:
            client.close()
        catalog = tag_catalog.parse(data)
        write_private(
            self.config.state_dir / tag_catalog.CACHE_NAME,
            json.dumps(data, ensure_ascii=False).encode("utf-8"),
            mode=0o644,
        )
        if catalog.version != self.tags_version:
            log.info("tag lists now version %s", catalog.version)
        self.tags_version = catalog.version
        return catalog.version

    def retention(self, now: float | None = None) -> int:
        moment = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
        cutoff = moment - timedelta(days=self.config.sync.retention_days)
        with Ledger(self.config.ledger_path) as ledger:
            removed = prune_delivered(
                ledger,
                self.key,
                cutoff.isoformat(timespec="seconds"),
                province_key=self.config.province.pinned_key,
                device_id=self.config.province.device_id,
                province_sm2_key=self.config.gm.province_sm2_key or None,
            )
            prune_outcomes(ledger, assess_time(cutoff))
        return removed
