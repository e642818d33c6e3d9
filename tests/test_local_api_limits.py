"""The local API cannot be taken down by its clients: a flood of idle connections, clients
dribbling their headers or body, connections kept alive and unused, all slots busy. Through a
real server on loopback; the bookkeeping's pure parts on their own."""

from __future__ import annotations

import logging
import socket
import threading
import time
from http import HTTPStatus

import pytest
import requests

from device.daemon.connections import Drop, DropTally, Limits, Phase, Slot, give_way
from device.local_api.http import LIMITS, Body, JsonServer, Reply, Request, Route, handler_for
from device.local_api.server import LocalApi
from tests.support.dummy_evaluator import DummyEvaluator
from tests.support.flood import (
    REQUEST_START,
    SlowHeaders,
    close_all,
    ended,
    idle_connections,
    status_answers,
)
from tests.support.local_api import TOKEN, WANG
from tests.support.polling import wait_until

HOST = "127.0.0.2"  # loopback, apart from the other tests' 127.0.0.1 servers

# -- the pure parts ---------------------------------------------------------------------------


def test_the_first_drop_is_said_at_once_the_rest_once_a_minute():
    tally = DropTally("local api", every_s=60)
    first = tally.note(Drop.SLOW_HEADERS, now=100.0)
    assert first == "local api: 1 connection(s) dropped (headers too slow: 1)"
    assert [tally.note(Drop.GAVE_WAY, now=100.0 + n / 10) for n in range(500)] == [None] * 500
    assert tally.due(now=159.0) is None
    line = tally.due(now=160.5)
    assert line == "local api: 500 connection(s) dropped (closed for a newer connection: 500)"
    assert tally.due(now=300.0) is None  # nothing new, nothing said


def test_an_idle_keep_alive_connection_closing_is_not_news():
    tally = DropTally("local api")
    assert tally.note(Drop.IDLE, now=1.0) is None
    assert tally.due(now=1000.0) is None


def test_the_connection_waiting_longest_gives_way_never_one_being_answered():
    sock = socket.socket()
    try:
        answering = Slot(sock, accepted=0.0, phase=Phase.ANSWERING, since=0.0)
        old_idle = Slot(sock, accepted=1.0, phase=Phase.IDLE, since=5.0)
        slow = Slot(sock, accepted=2.0, phase=Phase.HEADERS, since=2.0)
        gone = Slot(sock, accepted=0.5, phase=Phase.HEADERS, since=0.5, dropped=True)
        assert give_way([answering, old_idle, slow, gone]) is slow
        assert give_way([answering]) is None
    finally:
        sock.close()


def test_each_phase_has_its_deadline():
    limits = Limits(connections=4, header_s=5, idle_s=10, body_s=30)
    assert limits.deadline(Phase.HANDSHAKE, accepted=100, since=101) == 105
    assert limits.deadline(Phase.HEADERS, accepted=100, since=103) == 105  # from the accept
    assert limits.deadline(Phase.IDLE, accepted=100, since=200) == 210
    assert limits.deadline(Phase.BODY, accepted=100, since=200) == 230
    assert limits.deadline(Phase.ANSWERING, accepted=100, since=200) is None


# -- the real local API -----------------------------------------------------------------------


@pytest.fixture
def api():
    server = LocalApi(HOST, 0, TOKEN, DummyEvaluator("window", WANG), "window")
    server.start()
    yield server, f"http://{HOST}:{server.port}/api/v1"
    server.stop()


def _server_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith(("device.daemon", "device.local_api")) and r.levelno >= logging.INFO
    ]


def test_a_flood_of_idle_connections_leaves_the_api_answering(api, caplog):
    caplog.set_level(logging.DEBUG)
    server, url = api
    threads_before = threading.active_count()
    flood = idle_connections(HOST, server.port, 300)
    try:
        # during the flood: a well-behaved client is answered, at once (an idle one gives way)
        for _ in range(5):
            assert status_answers(url, TOKEN)
        assert threading.active_count() - threads_before <= LIMITS.connections + 2
        assert len(server._server.slots) <= LIMITS.connections
    finally:
        close_all(flood)
    wait_until(lambda: len(server._server.slots) == 0, "the flood's connections are gone")
    assert status_answers(url, TOKEN)
    lines = _server_lines(caplog)
    assert len(lines) <= 2, [r.getMessage() for r in lines]
    assert not any(r.exc_info for r in caplog.records), "a traceback was logged"
    assert "dropped" in lines[0].getMessage()


def test_a_client_sending_its_headers_slowly_is_cut_off(api, caplog):
    caplog.set_level(logging.DEBUG)
    server, url = api
    with SlowHeaders(HOST, server.port, count=40, every_s=0.5) as slow:
        assert status_answers(url, TOKEN)  # answered while they dribble
        wait_until(lambda: slow.all_ended, "the slow clients are cut off", timeout=15)
    assert slow.answers == []  # none of them got an answer
    assert max(slow.ended_after.values()) < LIMITS.header_s + 3
    assert min(slow.ended_after.values()) >= LIMITS.header_s - 0.6 or len(slow.ended_after) > 8
    assert status_answers(url, TOKEN)
    assert len(_server_lines(caplog)) <= 2
    assert not any(r.exc_info for r in caplog.records)


def test_a_slow_header_client_alone_gets_its_few_seconds_then_nothing(api):
    server, _url = api
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        sock.sendall(REQUEST_START)  # and never the empty line
        start = time.monotonic()
        closed, answer = ended(sock, timeout=LIMITS.header_s + 3)
        took = time.monotonic() - start
    assert closed and answer == b""
    assert LIMITS.header_s - 0.6 <= took <= LIMITS.header_s + 1.5


# -- short limits, to see each rule in a moment -----------------------------------------------

SHORT = Limits(connections=2, header_s=1.0, idle_s=1.0, body_s=1.0, wait_s=0.2)


@pytest.fixture
def short_server():
    release = threading.Event()

    def hold(_request: Request) -> Reply:
        release.wait(10)
        return Reply(HTTPStatus.OK, {"held": True})

    def echo(request: Request) -> Reply:
        return Reply(HTTPStatus.OK, {"got": request.body})

    routes = [
        Route("GET", "/api/v1/hold", hold),
        Route("GET", "/api/v1/status", lambda _r: Reply(HTTPStatus.OK, {"ok": True})),
        Route(
            "POST",
            "/api/v1/echo",
            echo,
            body=Body.JSON,
        ),
    ]
    server = JsonServer((HOST, 0), handler_for(routes, TOKEN), limits=SHORT)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server, f"http://{HOST}:{server.server_address[1]}/api/v1", release
    release.set()
    server.shutdown()
    server.close_connections()
    server.server_close()
    thread.join(5)


def _get(url: str, path: str) -> requests.Response:
    return requests.get(url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)


def test_with_every_slot_busy_answering_a_new_connection_is_closed_at_once(short_server):
    server, url, release = short_server
    held = [threading.Thread(target=_get, args=(url, "/hold")) for _ in range(SHORT.connections)]
    for thread in held:
        thread.start()
    wait_until(
        lambda: (
            len(server.slots) == SHORT.connections
            and all(s.phase is Phase.ANSWERING for s in server.slots._open.values())
        ),
        "both slots answering",
    )
    with socket.create_connection((HOST, server.server_address[1]), timeout=5) as sock:
        sock.sendall(REQUEST_START + b"\r\n")
        start = time.monotonic()
        closed, answer = ended(sock, timeout=3)
    assert closed and answer == b"" and time.monotonic() - start < 1.0
    release.set()
    for thread in held:
        thread.join(5)
    assert status_answers(url, TOKEN)  # the slots are free again


def test_a_kept_alive_connection_left_unused_is_closed(short_server):
    server, _url, _release = short_server
    with socket.create_connection((HOST, server.server_address[1]), timeout=5) as sock:
        sock.sendall(REQUEST_START + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
        start = time.monotonic()
        closed, answer = ended(sock, timeout=5)
        took = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 200")
    assert closed and SHORT.idle_s - 0.3 <= took <= SHORT.idle_s + 1.5


def test_a_body_sent_too_slowly_is_cut_off_without_an_answer(short_server):
    server, _url, _release = short_server
    with socket.create_connection((HOST, server.server_address[1]), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/echo HTTP/1.1\r\nHost: e\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"a": '
        )
        closed, answer = ended(sock, timeout=5)
    assert closed and answer == b""
    wait_until(lambda: len(server.slots) == 0, "the slot is free again")
