"""The stand-in province on 127.0.0.1: device API under the base path, admin interface under
`/admin`, the officer's page at `/`. Faults switched at run time wrap every device call.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from simulator.province import dashboard
from simulator.province.admin import ADMIN_PREFIX, AdminEndpoints, check_admin_token
from simulator.province.batch import MAX_BATCH_RECORDS, BatchEndpoint
from simulator.province.devices import DeviceEndpoints, beijing_time
from simulator.province.event_store import EventStore
from simulator.province.events import EventsEndpoint
from simulator.province.faults import Faults
from simulator.province.gm.service import GATEWAY_PATH, TOKEN_TTL_S, GmService
from simulator.province.http_server import (
    HTML_TYPE,
    MAX_BODY_BYTES,
    ApiError,
    DeviceRouter,
    ProvinceHTTPServer,
    Reply,
    Request,
    Route,
    retry_later,
)
from simulator.province.phone_rating import PHONE_PATH, PhoneRating
from simulator.province.receipts import ApiVersion, ProvinceKey
from simulator.province.reports import Reports
from simulator.province.signatures import CLOCK_WINDOW_SECONDS, authenticate
from simulator.province.speed.signature_pool import SignatureChecker
from simulator.province.stats import RequestStats
from simulator.province.store import ProvinceStore
from simulator.province.tags import TagList, default_tag_list

__all__ = [
    "CLOCK_WINDOW_SECONDS",
    "HEARTBEAT_SECONDS",
    "MAX_BATCH_RECORDS",
    "MAX_BODY_BYTES",
    "RETRY_AFTER_SECONDS",
    "TAGS_VERSION",
    "ApiError",
    "ApiVersion",
    "DeviceRouter",
    "ProvinceServer",
    "Reply",
    "Request",
    "Route",
    "SignatureChecker",
    "beijing_time",
]

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 60
RETRY_AFTER_SECONDS = 5
SHIPPED_TAGS = default_tag_list()
TAGS_VERSION = SHIPPED_TAGS.version
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


def store_unavailable() -> Reply:
    message = "the province store is unavailable; nothing was stored"
    return retry_later(503, "E_UNAVAILABLE", message, RETRY_AFTER_SECONDS).reply()


class ProvinceServer:
    """The stand-in province on 127.0.0.1: `start()`, then talk to `url`, then `stop()`.

    `faults` switches failures on and off at run time; `stats()` counts device calls.
    `api_version` 1 makes it a version-1 province: no province key at enrolment, no receipts.
    The province key is *province_key* if given, else the one kept in the store.
    """

    def __init__(
        self,
        store: ProvinceStore,
        host: str = "127.0.0.1",
        port: int = 0,
        base_path: str = "/api/v1",
        clock: Callable[[], float] = time.time,
        *,
        admin_token: str | None = None,
        fault_seed: int | None = None,
        tls: ssl.SSLContext | None = None,
        api_version: ApiVersion = ApiVersion.V1_1,
        province_key: ProvinceKey | None = None,
        gm: bool = False,
        gm_token_ttl_s: float = TOKEN_TTL_S,
    ) -> None:
        self.store = store
        self.api_version = ApiVersion(api_version)
        self.province_key = province_key or store.province_key(clock())
        self.tls = tls  # serve HTTPS with this context, as a real province does
        self.host = host
        self.port = port
        self.base_path = base_path.rstrip("/")
        self.clock = clock
        self.admin_token = admin_token
        self.heartbeat_seconds = HEARTBEAT_SECONDS
        self.faults = Faults(fault_seed)
        self.request_stats = RequestStats()
        self._tags = self._stored_tags() or SHIPPED_TAGS
        self._checker = SignatureChecker(os.cpu_count() or 1)
        self._httpd: ProvinceHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.router = DeviceRouter()
        devices = DeviceEndpoints(self)
        self.router.add("POST", "/devices/enroll", devices.enroll, signed=False)
        batches = BatchEndpoint(store, self._checker, clock, self.receipt_key)
        self.router.add("POST", "/evaluations:batch", batches)
        self.events = EventStore(store)
        events = EventsEndpoint(store, self.events, clock, self.receipt_key)
        self.router.add("POST", "/case-events:batch", events)
        self.router.add("POST", "/devices/{deviceId}/heartbeat", devices.heartbeat)
        self.router.add("POST", "/devices/{deviceId}/keys", devices.add_key)
        self.router.add("GET", "/devices/{deviceId}/keys", devices.key_history, signed=False)
        self.router.add("GET", "/devices/{deviceId}/tags", devices.tags)
        self.router.add("GET", "/devices/{deviceId}/audit", devices.audit)
        self.admin_router = AdminEndpoints(self).router
        self.phone = PhoneRating(self)
        # the 国密 dialect beside the JSON one, when asked for at start (--dialect gm-soap)
        self.gm = GmService(store, clock, self.base_path, gm_token_ttl_s) if gm else None
        self.page_router = DeviceRouter()
        for method in ("GET", "HEAD"):
            self.page_router.add(method, "/", self._page, signed=False)

    @property
    def url(self) -> str:
        """The device API's base URL, e.g. `http://127.0.0.1:8123/api/v1`."""
        return self.root_url + self.base_path

    @property
    def gm_gateway_url(self) -> str:
        """The 国密 dialect's token gateway (`{gateway}/oauth/token`)."""
        return self.root_url + GATEWAY_PATH

    @property
    def root_url(self) -> str:
        """Where the officer's page (`/`) and the admin interface (`/admin/…`) are."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve on a daemon thread; `port` then holds the bound port."""
        self._httpd = ProvinceHTTPServer((self.host, self.port), self, tls=self.tls)
        self.port = self._httpd.server_address[1]
        self._checker.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="province-http",
            daemon=True,
        )
        self._thread.start()
        log.info("province stand-in serving %s (page and /admin at %s)", self.url, self.root_url)

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._checker.close()
        self._httpd = self._thread = None

    def receipt_key(self) -> ProvinceKey | None:
        """The key that signs receipts now; None while the stand-in speaks version 1."""
        return None if self.api_version == ApiVersion.V1 else self.province_key

    # --- tags and statistics -----------------------------------------------------------

    @property
    def tags(self) -> TagList:
        """The tag list devices get now."""
        return self._tags

    @property
    def tags_version(self) -> str:
        return self._tags.version

    def publish_tags(self, tags: TagList) -> bool:
        """Make *tags* current (kept in the store); False if its version has other tags."""
        if not self.store.publish_tag_list(tags.version, tags.as_json(), self.clock()):
            return False
        self._tags = tags
        log.info("tag list %s published", tags.version)
        return True

    def _stored_tags(self) -> TagList | None:
        published = self.store.tag_lists()
        return TagList.from_json(published[-1]) if published else None

    def stats(self) -> dict[str, Any]:
        """Device calls: total, per second, peak, mean, by status, and faults fired."""
        return {**self.request_stats.snapshot(), "faultsFired": self.faults.fired_counts()}

    def reset_stats(self) -> dict[str, Any]:
        """The statistics so far; counting then starts anew."""
        snapshot = self.request_stats.snapshot(reset=True)
        return {**snapshot, "faultsFired": self.faults.fired_counts(reset=True)}

    # --- dispatch ----------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request whose body has been read; bad input never raises out of here."""
        path = target.split("?", 1)[0]
        try:
            if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
                check_admin_token(headers, self.admin_token)
                return self._route(self.admin_router, method, path, ADMIN_PREFIX, headers, body)
            if self.gm is not None and self.gm.serves(path):
                return self._device_call(method, path, headers, body)
            if path == self.base_path + PHONE_PATH:
                return self._phone_call(method, target, body)
            if path.startswith(self.base_path + "/"):
                return self._device_call(method, path, headers, body)
            return self._route(self.page_router, method, path, "", headers, body)
        except ApiError as error:
            return error.reply()
        except sqlite3.Error:
            log.exception("province store failed on %s %s", method, path)
            return store_unavailable()

    def _route(
        self,
        router: DeviceRouter,
        method: str,
        path: str,
        prefix: str,
        headers: Mapping[str, str],
        body: bytes,
        context: dict[str, Any] | None = None,
    ) -> Reply:
        route, params = router.match(method, path[len(prefix) :])
        request = Request(method, path, headers, params, body, context=context or {})
        if route.signed:
            request.device_id = authenticate(request, self.store, self.clock)
        return route.handle(request)

    def _device_call(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """One call of the device API, with the faults it draws and counted in the stats."""
        second = self.request_stats.arrived()
        reply = self._faulty_call(method, path, headers, body)
        self.request_stats.record(second, None if reply.drop else reply.status)
        return reply

    def _faulty_call(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        plan = self.faults.draw()
        if plan.fired:
            log.debug("faults fired on %s %s: %s", method, path, ", ".join(plan.fired))
        refusal = plan.refusal()
        if refusal is not None and refusal.drop:
            return refusal
        if plan.delay_seconds:
            time.sleep(plan.delay_seconds)
        if self.gm is not None and self.gm.serves(path):
            reply = self.gm.answer(path, headers, body, plan)
            return Reply.dropped() if plan.drop_after_commit else reply
        if refusal is not None:
            return refusal
        try:
            reply = self._route(
                self.router, method, path, self.base_path, headers, body, {"faults": plan}
            )
        except ApiError as error:
            reply = error.reply()
        except sqlite3.Error:
            log.exception("province store failed on %s %s", method, path)
            reply = store_unavailable()
        return Reply.dropped() if plan.drop_after_commit else reply

    # --- the rate-later page for phones (not a device call: no faults, not counted) ----

    def _phone_call(self, method: str, target: str, body: bytes) -> Reply:
        return self.phone.answer(method, target, body)

    # --- GET / -------------------------------------------------------------------------

    def _page(self, _request: Request) -> Reply:
        with Reports(self.store.path) as reports:
            data = dashboard.gather(
                reports,
                now=self.clock(),
                tags_version=self._tags.version,
                heartbeat_seconds=self.heartbeat_seconds,
                labels=reports.tag_labels(SHIPPED_TAGS.labels(), self._tags.labels()),
                faults=self.faults.as_json(),
                requests=self.request_stats.total,
                case_events=dashboard.case_events(self.events),
            )
        return Reply(200, dashboard.render(data), dict(PAGE_HEADERS), content_type=HTML_TYPE)
