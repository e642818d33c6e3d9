"""KeypadLink: owns the keypad's serial port and reader thread, turns frames into events.

Keeps the keypad alive (ping, lost/found) and reopens the port after a USB unplug.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Literal

import serial

from device.keypad.events import (
    KeypadEvent,
    KeypadFault,
    KeypadFound,
    KeypadHello,
    KeypadLost,
    KeyPressed,
    KeyReleased,
)
from device.keypad.framing import Frame, FrameParser, encode_frame

logger = logging.getLogger(__name__)

PROTOCOL_KEYS = 5  # `L` always carries five lights, key 1 first
READ_TIMEOUT = 0.05  # how long one read may wait; bounds stop() and ping latency
WRITE_TIMEOUT = 0.5
JOIN_TIMEOUT = 2.0
BEEP_MS = range(1, 2001)
_PORT_ERRORS = (serial.SerialException, OSError)

LinkState = Literal["unknown", "found", "lost"]


class KeypadLink:
    """The host end of the keypad protocol on a port given as a pyserial URL.

    `url` may be a device path (a stable /dev/serial/by-id/… symlink is best), `loop://`
    or `socket://host:port`. `on_event` is called from the reader thread, only for valid
    frames and liveness changes; an exception it raises is logged and ignored.

    Liveness: when the board has been silent for `ping_interval` the link sends `P`
    (and again every `ping_interval`); no byte for `lost_after` emits KeypadLost once,
    and the next valid frame emits KeypadFound. If the port fails or cannot be opened
    the link closes it, emits KeypadLost (once) and retries every `reopen_interval`.
    """

    def __init__(
        self,
        url: str,
        on_event: Callable[[KeypadEvent], None],
        *,
        key_count: int = 5,
        ping_interval: float = 2.0,
        lost_after: float = 5.0,
        reopen_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= key_count <= PROTOCOL_KEYS:
            raise ValueError(f"key_count must be 1..{PROTOCOL_KEYS}, got {key_count}")
        if not 0 < ping_interval < lost_after:
            raise ValueError("ping_interval must be positive and shorter than lost_after")
        self._url = url
        self._on_event = on_event
        self._key_count = key_count
        self._ping_interval = ping_interval
        self._lost_after = lost_after
        self._reopen_interval = reopen_interval
        self._monotonic = monotonic

        self._parser = FrameParser()
        self._rejected: Counter[str] = Counter()  # valid frames the host cannot use
        self._stats_lock = threading.Lock()
        self._port: serial.Serial | None = None  # what serial_for_url gives
        self._port_lock = threading.Lock()  # guards writes and opening/closing the port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: LinkState = "unknown"
        self._firmware: str | None = None
        self._last_rx = 0.0
        self._last_ping = 0.0
        self._open_failures = 0

    # -- public -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the board is talking (a valid frame since the last loss)."""
        return self._state == "found"

    @property
    def firmware(self) -> str | None:
        """Firmware version from the board's last hello, None before the first one."""
        return self._firmware

    @property
    def dropped(self) -> Counter[str]:
        """Snapshot of what was dropped, by reason: the parser's counts plus
        "bad_key" (key outside 1..key_count) and "unknown_type" (e.g. our own echo)."""
        with self._stats_lock:
            counts = Counter(self._parser.dropped)
            counts.update(self._rejected)
        return counts

    def start(self) -> None:
        """Start the reader thread; it opens the port (and keeps reopening it)."""
        if self._thread is not None:
            raise RuntimeError("KeypadLink already started")
        self._thread = threading.Thread(target=self._run, name="keypad-link", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread (waiting at most a couple of seconds) and close the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)
            if self._thread.is_alive():
                logger.warning("keypad reader thread did not stop within %.1f s", JOIN_TIMEOUT)
                return
        self._close_port()

    def light(self, key: int | None) -> bool:
        """Light key `key` alone, or all keys dark for None. False if the port is gone."""
        if key is not None and not 1 <= key <= self._key_count:
            raise ValueError(f"key must be 1..{self._key_count} or None, got {key}")
        lights = "".join("1" if n == key else "0" for n in range(1, PROTOCOL_KEYS + 1))
        return self._send("L", lights)

    def light_keys(self, keys: tuple[int, ...]) -> bool:
        """Light exactly the keys in `keys` that are in use (1 = leftmost). False if the port
        is gone."""
        lit = [n in keys and n <= self._key_count for n in range(1, PROTOCOL_KEYS + 1)]
        lights = "".join("1" if on else "0" for on in lit)
        return self._send("L", lights)

    def light_all(self) -> bool:
        """Light every key in use (the keypad invites a press)."""
        lights = "".join("1" if n <= self._key_count else "0" for n in range(1, PROTOCOL_KEYS + 1))
        return self._send("L", lights)

    def beep(self, ms: int) -> bool:
        """Sound the buzzer for `ms` (1-2000) milliseconds. False if the port is gone."""
        if ms not in BEEP_MS:
            raise ValueError(f"beep must be 1..2000 ms, got {ms}")
        return self._send("B", str(ms))

    # -- writing ------------------------------------------------------------------------

    def _send(self, frame_type: str, payload: str = "") -> bool:
        data = encode_frame(frame_type, payload)
        with self._port_lock:
            port = self._port
            if port is None:
                return False
            try:
                port.write(data)
            except _PORT_ERRORS as exc:
                logger.warning("keypad write failed: %s", exc)
                return False
        logger.debug("keypad sent %r", data)
        return True

    # -- reader thread ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._port is None:
                    if not self._open_port():
                        self._stop.wait(self._reopen_interval)
                elif not self._service_port():
                    self._stop.wait(self._reopen_interval)
            except Exception:
                logger.exception("keypad reader: unexpected error, carrying on")
                self._stop.wait(READ_TIMEOUT)
        self._close_port()

    def _open_port(self) -> bool:
        try:
            port = serial.serial_for_url(
                self._url,
                baudrate=9600,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=READ_TIMEOUT,
                write_timeout=WRITE_TIMEOUT,
                exclusive=True,  # honoured by device ports, ignored by loop:// and socket://
            )
        except (*_PORT_ERRORS, ValueError) as exc:
            self._open_failures += 1
            level = logging.WARNING if self._open_failures == 1 else logging.DEBUG
            logger.log(level, "cannot open keypad port %s: %s", self._url, exc)
            self._mark_lost()
            return False
        now = self._monotonic()
        with self._port_lock:
            self._port = port
        self._parser.reset()
        self._open_failures = 0
        self._last_rx = now  # the silence clock starts at open
        self._last_ping = now - self._ping_interval  # ask the board at once
        logger.info("keypad port %s opened", self._url)
        return True

    def _close_port(self) -> None:
        with self._port_lock:
            port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except _PORT_ERRORS as exc:
                logger.debug("closing keypad port: %s", exc)

    def _service_port(self) -> bool:
        """Read what is there (waiting at most READ_TIMEOUT); False if the port failed."""
        port = self._port
        assert port is not None
        try:
            data = port.read(port.in_waiting or 1)
        except _PORT_ERRORS as exc:
            logger.warning("keypad port %s failed (unplugged?): %s", self._url, exc)
            self._close_port()
            self._mark_lost()
            return False
        now = self._monotonic()
        if data:
            self._last_rx = now
            with self._stats_lock:
                frames = self._parser.feed(data)
            for frame in frames:
                self._handle(frame, now)
        self._keep_alive(now)
        return True

    def _keep_alive(self, now: float) -> None:
        if now - max(self._last_rx, self._last_ping) >= self._ping_interval:
            self._last_ping = now
            self._send("P")
        if now - self._last_rx >= self._lost_after:
            self._mark_lost()

    # -- frames to events ---------------------------------------------------------------

    def _handle(self, frame: Frame, now: float) -> None:
        logger.debug("keypad frame %r", frame)
        self._mark_found()
        if frame.type in ("K", "U"):
            key = self._key(frame.payload)
            if key is None:
                self._reject("bad_key")
            elif frame.type == "K":
                self._emit(KeyPressed(key, now))
            else:
                self._emit(KeyReleased(key, now))
        elif frame.type == "H":
            self._firmware = frame.payload
            self._emit(KeypadHello(frame.payload))
        elif frame.type == "E":
            self._emit(KeypadFault(frame.payload))
        else:
            self._reject("unknown_type")

    def _key(self, payload: str) -> int | None:
        if len(payload) == 1 and payload.isdigit() and 1 <= int(payload) <= self._key_count:
            return int(payload)
        return None

    def _reject(self, reason: str) -> None:
        with self._stats_lock:
            self._rejected[reason] += 1

    def _mark_found(self) -> None:
        if self._state != "found":
            self._state = "found"
            logger.info("keypad found on %s", self._url)
            self._emit(KeypadFound())

    def _mark_lost(self) -> None:
        if self._state != "lost":
            self._state = "lost"
            logger.warning("keypad lost on %s", self._url)
            self._emit(KeypadLost())

    def _emit(self, event: KeypadEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            logger.exception("keypad event handler failed on %s", type(event).__name__)
