"""Hostile clients for the HTTP servers: many idle connections, clients that send their headers
a byte at a time, and a well-behaved client asking for the status in between."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import requests

REQUEST_START = b"GET /api/v1/status HTTP/1.1\r\nHost: evaluator\r\n"


def idle_connections(host: str, port: int, count: int) -> list[socket.socket]:
    """*count* connections that never say anything (each kept open, whatever the server does)."""
    opened = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=5)
        opened.append(sock)
    return opened


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.close()


def ended(sock: socket.socket, timeout: float) -> tuple[bool, bytes]:
    """Whether the server closed *sock* within *timeout* seconds, and what it sent first."""
    sock.settimeout(timeout)
    received = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            chunk = sock.recv(65536)
            if not chunk:
                return True, received
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        return True, received
    except TimeoutError:
        return False, received
    return False, received


class SlowHeaders:
    """Clients that begin a request and then send one header byte every `every_s` seconds,
    never finishing; `ended_after` holds, per client, when the server closed it."""

    def __init__(self, host: str, port: int, count: int, every_s: float = 0.5) -> None:
        self.sockets = [socket.create_connection((host, port), timeout=5) for _ in range(count)]
        self.every_s = every_s
        self.started = time.monotonic()
        self.ended_after: dict[int, float] = {}
        self.answers: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)

    def __enter__(self) -> SlowHeaders:
        for sock in self.sockets:
            sock.sendall(REQUEST_START)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        close_all(self.sockets)

    def _drip(self) -> None:
        while not self._stop.wait(self.every_s):
            for n, sock in enumerate(self.sockets):
                if n in self.ended_after:
                    continue
                try:
                    sock.sendall(b"X")
                    sock.setblocking(False)
                    with contextlib.suppress(BlockingIOError):
                        data = sock.recv(65536)
                        if data:
                            self.answers.append(data)
                        else:
                            raise ConnectionResetError
                except OSError:
                    self.ended_after[n] = time.monotonic() - self.started
                finally:
                    with contextlib.suppress(OSError):
                        sock.setblocking(True)

    @property
    def all_ended(self) -> bool:
        return len(self.ended_after) == len(self.sockets)


def status_answers(url: str, token: str, **kwargs: object) -> bool:
    """True when `GET {url}/status` is answered 200 with a fresh connection."""
    try:
        response = requests.get(
            f"{url}/status",
            headers={"Authorization": f"Bearer {token}", "Connection": "close"},
            timeout=3,
            **kwargs,  # type: ignore[arg-type]
        )
    except requests.RequestException:
        return False
    return response.status_code == 200
