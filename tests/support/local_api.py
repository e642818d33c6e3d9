"""The local API over real HTTP on 127.0.0.1 with the dummy twin of the evaluator behind it,
and the cross-field rules a generated case must keep to be worth sending."""

from __future__ import annotations

import socket
from typing import Any

import requests

from device.local_api.server import LocalApi
from device.record.rating import Staff
from tests.support.dummy_evaluator import DummyEvaluator

TOKEN = "t0ken-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WANG = Staff("0421", "王敏")


class Window:
    """A live LocalApi on a free port and the evaluator behind it."""

    def __init__(self, mode: str, staff: Staff | None) -> None:
        self.evaluator = DummyEvaluator(mode, staff)
        self.server = LocalApi("127.0.0.1", 0, TOKEN, self.evaluator, mode)
        self.url = f"http://127.0.0.1:{self.server.port}/api/v1"
        self.port = self.server.port

    def __enter__(self) -> Window:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def post(
        self, path: str, body: object = None, headers: dict | None = None, **kw: Any
    ) -> requests.Response:
        headers = {**AUTH, **(headers or {})}
        return requests.post(self.url + path, json=body, headers=headers, timeout=5, **kw)

    def call(
        self, method: str, path: str, headers: dict | None = None, **kw: Any
    ) -> requests.Response:
        headers = AUTH if headers is None else headers
        return requests.request(method, self.url + path, headers=headers, timeout=5, **kw)

    def raw(self, request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(request)
            return read_all(conn)


def read_all(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def keep_cross_field_rules(body: dict, mutated: str | None) -> None:
    """Make a generated case keep the rules OpenAPI 3.0 cannot state, leaving `mutated` alone."""
    if body.get("batchProjectNos") is not None and body.get("theme") is not None:
        body.pop("theme" if mutated != "theme" else "batchProjectNos")
    batch, project_no = body.get("batchProjectNos"), body.get("projectNo")
    batch_fixable = mutated not in ("batchProjectNos", "projectNo") and isinstance(batch, list)
    if batch_fixable and batch and isinstance(project_no, str) and project_no not in batch:
        batch[0] = project_no
    theme = body.get("theme")
    if mutated != "theme" and isinstance(theme, dict) and isinstance(theme.get("items"), list):
        unique = {item.get("projectNo"): item for item in theme["items"]}
        theme["items"] = list(unique.values())
    staff = [name for name in ("proManagerNo", "proManager") if body.get(name) is not None]
    if len(staff) == 1 and staff[0] != mutated:
        body.pop(staff[0])
    if body.get("indicators") is True and body.get("proStatus") == 2:
        if mutated == "indicators":
            body["proStatus"] = 3
        else:
            body["indicators"] = False
