"""A client of the evaluator's local API, as the counter's business system would use it:
plain HTTP on loopback, or HTTPS pinning the device certificate's SHA-256 fingerprint."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter


class PinnedAdapter(HTTPAdapter):
    """HTTPS that trusts one certificate, named by its SHA-256 fingerprint (`AB:CD:…`), and
    no certificate authority: the device certificate is self-signed."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint.replace(":", "").replace(" ", "").lower()
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_fingerprint"] = self.fingerprint
        super().init_poolmanager(*args, **kwargs)

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        kwargs["verify"] = False  # no CA vouches for it (whatever REQUESTS_CA_BUNDLE says)
        return super().send(request, **kwargs)


class EvaluatorClient:
    def __init__(
        self, base_url: str, token: str, timeout_s: float = 5.0, *, pin: str | None = None
    ) -> None:
        """*pin*: the certificate fingerprint (`haochaping-provision show`) for an https URL."""
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        if pin is not None:
            self.session.mount("https://", PinnedAdapter(pin))
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout_s = timeout_s

    def push_case(self, case: dict[str, Any]) -> dict[str, Any]:
        response = self.session.post(f"{self.base_url}/cases", json=case, timeout=self.timeout_s)
        response.raise_for_status()
        return response.json()

    def sign_in(self, number: str, name: str, photo_b64: str | None = None) -> None:
        body = {"proManagerNo": number, "proManager": name}
        if photo_b64:
            body["photo"] = photo_b64
        response = self.session.post(
            f"{self.base_url}/staff/sign-in", json=body, timeout=self.timeout_s
        )
        response.raise_for_status()

    def sign_out(self) -> None:
        response = self.session.post(
            f"{self.base_url}/staff/sign-out", json={}, timeout=self.timeout_s
        )
        response.raise_for_status()

    def cancel(self, project_no: str) -> bool:
        response = self.session.delete(
            f"{self.base_url}/cases/{project_no}", timeout=self.timeout_s
        )
        return response.status_code == 200

    def rate_later(self, project_no: str) -> dict[str, Any]:
        """The case's rate-later link for the receipt: `{"projectNo", "url", "issuedAt"}`."""
        path = quote(project_no, safe="")
        response = self.session.get(
            f"{self.base_url}/cases/{path}/rate-later", timeout=self.timeout_s
        )
        response.raise_for_status()
        return response.json()

    def status(self) -> dict[str, Any]:
        response = self.session.get(f"{self.base_url}/status", timeout=self.timeout_s)
        response.raise_for_status()
        return response.json()

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout_s: float,
        what: str,
        gone: Callable[[], str | None] = lambda: None,
    ) -> dict[str, Any]:
        """Poll the status until predicate(status) holds; TimeoutError naming *what* if not.
        `gone` says why waiting is pointless (the evaluator died), or None."""
        end = time.monotonic() + timeout_s
        last: dict[str, Any] | None = None
        while time.monotonic() < end:
            reason = gone()
            if reason:
                raise RuntimeError(f"{what}: {reason}")
            try:
                last = self.status()
            except requests.RequestException:
                last = None
            if last is not None and predicate(last):
                return last
            time.sleep(0.02)
        raise TimeoutError(f"evaluator did not reach: {what} (last status {last})")

    def close(self) -> None:
        self.session.close()
