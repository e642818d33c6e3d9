"""A hostile province on 127.0.0.1: a bare HTTP server that answers every request as told
(redirects, garbage, floods, drips) and remembers what it was asked."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[BaseHTTPRequestHandler], None]


class HostileServer:
    """Answers every request with `answer`; remembers what it was asked."""

    def __init__(self, answer: Answer) -> None:
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                outer.requests.append((self.command, self.path))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    answer(self)

            do_GET = do_POST = do_PUT = _any  # noqa: N815

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
