"""A client of the stand-in's admin interface, for the CLI and for tests or chaos runs that
drive a stand-in in another process. Accepts the root URL or the device API's URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from device.errors import HaochapingError
from simulator.province.admin import ADMIN_PREFIX, ADMIN_TOKEN_HEADER
from simulator.province.faults import CAMEL


class AdminError(HaochapingError):
    """The admin interface refused (status, code, message) or could not be reached (status 0)."""

    code = "E_ADMIN"

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if status == 0 else f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class AdminClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http URL: {url}")
        self.admin_url = f"{parts.scheme}://{parts.netloc}{ADMIN_PREFIX}"
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        headers = {ADMIN_TOKEN_HEADER: self.token} if self.token else {}
        try:
            reply = requests.request(
                method, self.admin_url + path, json=payload, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise AdminError(0, "E_CONNECT", f"cannot reach {self.admin_url}: {exc}") from None
        try:
            body = reply.json()
        except ValueError:
            body = {"code": "E_HTTP", "message": reply.text[:200]}
        if reply.status_code >= 400:
            raise AdminError(reply.status_code, body.get("code", "E_HTTP"), body.get("message", ""))
        return body

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/faults")

    def set_fault(self, kind: str, probability: float = 1.0, **params: Any) -> dict[str, Any]:
        """E.g. `set_fault("rate", retry_after=3)`; parameters as in `Faults.set`."""
        body = {"probability": probability}
        body.update({CAMEL.get(name, name): value for name, value in params.items()})
        return self._call("PUT", f"/faults/{kind}", body)

    def clear_faults(self, kind: str | None = None) -> dict[str, Any]:
        return self._call("DELETE", "/faults" if kind is None else f"/faults/{kind}")

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        return self._call("DELETE" if reset else "GET", "/stats")

    def tags(self) -> dict[str, Any]:
        return self._call("GET", "/tags")

    def publish_tags(self, tag_list: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", "/tags", tag_list)

    def device(self, device_id: str) -> dict[str, Any]:
        return self._call("GET", f"/devices/{device_id}")
