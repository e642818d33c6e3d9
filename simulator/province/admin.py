"""The stand-in's admin interface under `/admin`: fault switches, request statistics, tag
lists, a device's latest heartbeat. Unsigned; an `X-Admin-Token` header when one is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Protocol

from simulator.province.devices import beijing_time
from simulator.province.faults import KINDS, Fault, FaultError, Faults
from simulator.province.http_server import ApiError, DeviceRouter, Reply, Request, json_body
from simulator.province.store import ProvinceStore
from simulator.province.tags import TagList, TagListError

ADMIN_PREFIX = "/admin"
ADMIN_TOKEN_HEADER = "X-Admin-Token"  # noqa: S105 (a header name)


class AdminProvince(Protocol):
    store: ProvinceStore
    faults: Faults

    @property
    def tags(self) -> TagList: ...

    def publish_tags(self, tags: TagList) -> bool: ...

    def stats(self) -> dict[str, Any]: ...

    def reset_stats(self) -> dict[str, Any]: ...


def check_admin_token(headers: Mapping[str, str], token: str | None) -> None:
    """Pass when no token is configured or the header carries it."""
    if token is None:
        return
    given = headers.get(ADMIN_TOKEN_HEADER) or ""
    if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
        raise ApiError(401, "E_AUTH", f"the admin interface needs the {ADMIN_TOKEN_HEADER} header")


class AdminEndpoints:
    def __init__(self, province: AdminProvince) -> None:
        self.province = province
        self.router = DeviceRouter()
        add = self.router.add
        add("GET", "/faults", self.list_faults, signed=False)
        add("DELETE", "/faults", self.clear_faults, signed=False)
        for method in ("PUT", "POST"):
            add(method, "/faults/{kind}", self.set_fault, signed=False)
        add("DELETE", "/faults/{kind}", self.clear_fault, signed=False)
        add("GET", "/stats", self.stats, signed=False)
        add("DELETE", "/stats", self.reset_stats, signed=False)
        add("GET", "/tags", self.tags, signed=False)
        for method in ("PUT", "POST"):
            add(method, "/tags", self.publish_tags, signed=False)
        add("GET", "/devices/{deviceId}", self.device, signed=False)

    # --- faults --------------------------------------------------------------------------

    def _faults_reply(self) -> Reply:
        faults = self.province.faults
        body = {"faults": faults.as_json(), "fired": faults.fired_counts(), "kinds": list(KINDS)}
        return Reply(200, body)

    def list_faults(self, _request: Request) -> Reply:
        return self._faults_reply()

    def set_fault(self, request: Request) -> Reply:
        body = json_body(request.raw) if request.raw.strip() else {}
        try:
            fault = Fault.from_json(request.params["kind"], body)
        except FaultError as error:
            raise ApiError(422, "E_FIELD", str(error), extra={"field": error.field}) from None
        self.province.faults.put(fault)
        return self._faults_reply()

    def clear_fault(self, request: Request) -> Reply:
        try:
            self.province.faults.clear(request.params["kind"])
        except FaultError as error:
            raise ApiError(404, "E_NOT_FOUND", str(error)) from None
        return self._faults_reply()

    def clear_faults(self, _request: Request) -> Reply:
        self.province.faults.clear()
        return self._faults_reply()

    # --- statistics and tags -------------------------------------------------------------

    def stats(self, _request: Request) -> Reply:
        return Reply(200, self.province.stats())

    def reset_stats(self, _request: Request) -> Reply:
        return Reply(200, self.province.reset_stats())

    def tags(self, _request: Request) -> Reply:
        return Reply(200, self.province.tags.as_json())

    def publish_tags(self, request: Request) -> Reply:
        try:
            tags = TagList.from_json(json_body(request.raw))
        except TagListError as error:
            rejection = error.rejection
            extra = {"field": rejection.field}
            raise ApiError(422, rejection.code, rejection.message, extra=extra) from None
        if not self.province.publish_tags(tags):
            message = f"version {tags.version} was published with other tags; use a new version"
            raise ApiError(409, "E_CONFLICT", message)
        return Reply(200, {"version": tags.version})

    # --- devices -------------------------------------------------------------------------

    def device(self, request: Request) -> Reply:
        store = self.province.store
        device_id = request.params["deviceId"]
        device = store.device(device_id)
        if device is None:
            raise ApiError(404, "E_NOT_FOUND", f"no such device: {device_id}")
        heartbeat = store.heartbeat(device_id)
        if heartbeat is not None:
            heartbeat["receivedTime"] = beijing_time(heartbeat["receivedAt"])
        body = {
            "deviceId": device_id,
            "serial": device["serial"],
            "site": device["site"],
            "heartbeat": heartbeat,
            "lastSeq": store.max_seq(device_id),
            "evaluationCount": store.evaluation_count(device_id),
            "auditFlags": len(store.audit_flags(device_id)),
        }
        return Reply(200, body)
