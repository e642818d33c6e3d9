"""KeypadLink against a virtual keypad board on a real pty (and on loop:// and socket://)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from device.keypad.events import (
    KeypadEvent,
    KeypadFault,
    KeypadFound,
    KeypadHello,
    KeypadLost,
    KeyPressed,
    KeyReleased,
)
from device.keypad.framing import encode_frame
from device.keypad.link import KeypadLink
from simulator.virtual_keypad import VirtualKeypad
from tests.support.keypad import DEADLINE, FAST
from tests.support.polling import wait_until


def test_a_press_arrives_as_key_pressed_with_its_parse_time(board, link, events):
    before = time.monotonic()
    board.press(3)
    pressed = events.wait_for(KeyPressed)
    assert pressed.key == 3
    assert before <= pressed.at <= time.monotonic()
    assert events.wait_for(KeyReleased).key == 3


def test_malformed_bytes_and_impossible_keys_give_no_event(board, link, events):
    board.send_raw(b"\x02K379\x03")  # key 3 with a wrong checksum
    board.send_raw(b"\x02K378\x03"[:4] + b"\x02K\x0137\x03")  # cut short, control byte
    board.send_raw(b"line noise\x03")
    fault = encode_frame("E", "STUCK3")  # its checksum is 2C
    board.send_raw(fault[:-3] + fault[-3:-1].lower() + fault[-1:])  # lower-case checksum
    board.press(6, release=False)  # a well-formed frame for a key that does not exist
    board.press(2, release=False)  # the only real press
    events.wait_for(KeyPressed)
    wait_until(lambda: link.dropped["bad_key"] == 1, "the key-6 frame to be counted")
    assert [e.key for e in events.of(KeyPressed)] == [2]
    assert events.of(KeypadFault) == []
    dropped = link.dropped
    assert dropped["checksum"] == 2
    assert dropped["truncated"] == 1
    assert dropped["non_printable"] == 1
    assert dropped["noise"] >= len(b"line noise\x03")


def test_lights_and_beeps_reach_the_board(board, link):
    assert link.light(3)
    wait_until(lambda: board.lights == "00100", "key 3 lit on the board")
    assert link.light(None)
    wait_until(lambda: board.lights == "00000", "all lights dark")
    assert link.beep(150)
    wait_until(lambda: board.beeps == [150], "a 150 ms beep")


def test_invalid_light_and_beep_requests_are_refused(link):
    with pytest.raises(ValueError):
        link.light(6)
    with pytest.raises(ValueError):
        link.beep(0)
    with pytest.raises(ValueError):
        link.beep(2001)


def test_the_board_answers_pings_with_its_firmware(board, link, events):
    assert events.wait_for(KeypadHello).version == "KP-TEST-2.1"
    assert link.firmware == "KP-TEST-2.1"
    assert link.connected
    pings = board.pings
    wait_until(lambda: board.pings >= pings + 2, "the link to keep pinging while idle")


def test_a_fault_report_arrives(board, link, events):
    board.fault("STUCK3")
    assert events.wait_for(KeypadFault).text == "STUCK3"


def test_a_silent_board_is_lost_once_and_found_when_it_talks_again(board, link, events):
    board.mute = True
    events.wait_for(KeypadLost)
    assert not link.connected
    pings = board.pings
    wait_until(lambda: board.pings >= pings + 3, "pings to go on while the board is lost")
    assert len(events.of(KeypadLost)) == 1
    board.mute = False
    events.wait_for(KeypadFound, count=2)
    assert link.connected


def test_unplug_and_replug_through_the_stable_name(board, link, events):
    board.unplug()
    events.wait_for(KeypadLost)
    assert not link.connected
    assert not link.light(1)  # the port is gone: refused quietly, not raised
    board.press(1)  # pressed while unplugged: goes nowhere

    board.replug()
    events.wait_for(KeypadFound, count=2)
    board.press(4)
    assert events.wait_for(KeyPressed).key == 4
    assert len(events.of(KeypadLost)) == 1
    assert link.light(4)
    wait_until(lambda: board.lights == "00010", "key 4 lit after the replug")


def test_a_keypad_plugged_in_after_start_is_found(tmp_path, make_link, events):
    path = tmp_path / "late-keypad"
    make_link(str(path), **FAST)
    events.wait_for(KeypadLost)
    with VirtualKeypad(path) as late:
        events.wait_for(KeypadFound)
        late.press(5)
        assert events.wait_for(KeyPressed).key == 5


def test_a_failing_event_handler_does_not_stop_the_link(board):
    keys: list[int] = []

    def clumsy(event: KeypadEvent) -> None:
        if isinstance(event, KeyPressed):
            keys.append(event.key)
            raise RuntimeError("UI bug")

    link = KeypadLink(board.port, clumsy, **FAST)
    link.start()
    try:
        wait_until(lambda: link.connected, "the board to be found")
        board.press(1)
        board.press(2)
        wait_until(lambda: keys == [1, 2], "both presses despite the handler failing")
    finally:
        link.stop()


def test_stop_is_prompt_and_later_writes_are_refused(board, link):
    started = time.monotonic()
    link.stop()
    assert time.monotonic() - started < 1.0
    assert not link.light(2)
    assert not link.beep(100)


def test_loop_url_gets_its_own_frames_back(make_link, events):
    link = make_link("loop://", **FAST)
    events.wait_for(KeypadFound)  # our ping came back: a valid frame
    assert link.light(2)
    wait_until(lambda: link.dropped["unknown_type"] >= 2, "the echoed L and P frames")
    assert events.of(KeyPressed) == []


def test_socket_url_talks_to_a_board_over_tcp(make_link, events):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(DEADLINE)
    host, port = server.getsockname()[:2]
    done = threading.Event()

    def tcp_board() -> None:
        # Press only once the host has pinged: bytes that arrive while pyserial is
        # still opening the port are flushed, as on a real port.
        connection, _ = server.accept()
        with connection:
            connection.settimeout(0.05)
            heard = bytearray()
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    if not (chunk := connection.recv(64)):
                        return  # the link hung up
                    heard.extend(chunk)
                if encode_frame("P") in heard:
                    connection.sendall(encode_frame("K", "2"))
                    heard.clear()

    thread = threading.Thread(target=tcp_board, daemon=True)
    thread.start()
    try:
        make_link(f"socket://{host}:{port}", **FAST)
        assert events.wait_for(KeyPressed).key == 2
    finally:
        done.set()
        thread.join(DEADLINE)
        server.close()
