"""A five-key keypad board emulated on a pty pair, speaking the real wire protocol.

The host opens `port` like /dev/ttyACM0; unplug()/replug() act like pulling the USB cable.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import tty
from pathlib import Path
from types import TracebackType

from device.keypad.framing import Frame, FrameParser, encode_frame

logger = logging.getLogger(__name__)

POLL = 0.05  # longest a board loop waits before looking at stop()
JOIN_TIMEOUT = 2.0


class VirtualKeypad:
    """The board end of the keypad protocol on a pseudo-terminal.

    If `link_path` is given it is kept as a symlink to the current slave tty, like a
    /dev/serial/by-id/… name that survives re-plugging. The board answers `P` with
    `H<firmware>`, records `L` payloads in `lights` and `B` durations in `beeps`, and every
    `L` and `B` frame in the order it came in `shown` (what a bystander sees and hears).
    Setting `mute` makes it a hung board: it sends nothing at all (but still listens).
    """

    def __init__(self, link_path: Path | None = None, firmware: str = "KP-SIM-1.0") -> None:
        encode_frame("H", firmware)  # reject a version the protocol cannot carry
        self.link_path = link_path
        self.firmware = firmware
        self.mute = False
        self.lights = ""
        self.beeps: list[int] = []
        self.shown: list[tuple[str, str]] = []
        self.pings = 0
        self._parser = FrameParser()
        self._lock = threading.Lock()  # guards the fds: writes, plug, unplug
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def port(self) -> str:
        """What the host should open: the stable link if any, else the slave tty."""
        if self.link_path is not None:
            return str(self.link_path)
        if self._slave_name is None:
            raise RuntimeError("VirtualKeypad not started")
        return self._slave_name

    @property
    def tty_name(self) -> str | None:
        """The current slave tty (/dev/pts/N), None while unplugged."""
        return self._slave_name

    def start(self) -> None:
        """Create the pty, start listening to the host and say hello."""
        if self._thread is not None:
            raise RuntimeError("VirtualKeypad already started")
        self._plug()
        self._thread = threading.Thread(target=self._serve, name="virtual-keypad", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the board thread and remove the pty and the symlink."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)
        self.unplug()

    def unplug(self) -> None:
        """Pull the cable: the symlink goes, the pty closes and the host's reads fail."""
        if self.link_path is not None:
            self.link_path.unlink(missing_ok=True)
        with self._lock:
            fds = (self._master, self._slave)
            self._master = self._slave = self._slave_name = None
        for fd in fds:
            if fd is not None:
                os.close(fd)

    def replug(self) -> None:
        """Plug back in: a new pty, the symlink pointing at it, and a power-up hello."""
        if self._master is not None:
            raise RuntimeError("VirtualKeypad is still plugged in")
        self._plug()

    def __enter__(self) -> VirtualKeypad:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what the board sends -----------------------------------------------------------

    def press(self, key: int, release: bool = True) -> None:
        """Press key `key` (a K frame), and release it (a U frame) unless told not to."""
        self._send("K", str(key))
        if release:
            self._send("U", str(key))

    def hello(self) -> None:
        """Say hello with the firmware version, as at power-up."""
        self._send("H", self.firmware)

    def fault(self, text: str) -> None:
        """Report a fault, e.g. "STUCK3"."""
        self._send("E", text)

    def send_raw(self, data: bytes) -> None:
        """Put arbitrary bytes on the wire (noise, broken frames)."""
        self._write(data)

    def _send(self, frame_type: str, payload: str = "") -> None:
        self._write(encode_frame(frame_type, payload))

    def _write(self, data: bytes) -> None:
        if self.mute:
            return
        with self._lock:
            if self._master is None:
                logger.debug("virtual keypad unplugged, not sending %r", data)
                return
            try:
                written = os.write(self._master, data)
            except OSError as exc:
                logger.warning("virtual keypad write failed: %s", exc)
                return
        if written < len(data):
            logger.warning("virtual keypad wrote %d of %d bytes", written, len(data))

    # -- pty ----------------------------------------------------------------------------

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass through untouched
        os.set_blocking(master, False)
        name = os.ttyname(slave)
        with self._lock:
            self._master, self._slave, self._slave_name = master, slave, name
        if self.link_path is not None:
            self._point_link(name)
        logger.info("virtual keypad plugged in on %s", name)
        self.hello()

    def _point_link(self, target: str) -> None:
        assert self.link_path is not None
        temporary = self.link_path.with_name(f".{self.link_path.name}.new")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target)
        temporary.replace(self.link_path)  # atomic: the host never sees a missing link

    # -- listening to the host ----------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            master = self._master
            if master is None:
                self._stop.wait(POLL)
                continue
            try:
                ready, _, _ = select.select([master], [], [], POLL)
            except (OSError, ValueError):  # unplugged while we waited
                continue
            if ready:
                for frame in self._parser.feed(self._read(master)):
                    self._obey(frame)

    def _read(self, master: int) -> bytes:
        with self._lock:
            if master != self._master:  # unplugged (fd may even be reused) since select
                return b""
            try:
                return os.read(master, 256)
            except BlockingIOError:
                return b""
            except OSError as exc:
                logger.warning("virtual keypad read failed: %s", exc)
        self._stop.wait(POLL)
        return b""

    def _obey(self, frame: Frame) -> None:
        if frame.type == "P":
            self.pings += 1
            self.hello()
        elif frame.type == "L":
            self.lights = frame.payload
            self.shown.append((frame.type, frame.payload))
        elif frame.type == "B" and frame.payload.isdigit():
            self.beeps.append(int(frame.payload))
            self.shown.append((frame.type, frame.payload))
        else:
            logger.debug("virtual keypad ignores %r", frame)
