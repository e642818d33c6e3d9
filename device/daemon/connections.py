"""The HTTP servers' open connections, bounded: how many may be open, how long each may take
to say what it wants, which one gives way when all are taken, and one log line now and then
about the connections dropped (never a traceback each).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum


class Phase(Enum):
    """Where a connection is; each phase but ANSWERING has a deadline."""

    HANDSHAKE = "handshake"  # TLS handshake: header_s from the accept
    HEADERS = "headers"  # the first request's line and headers: header_s from the accept
    IDLE = "idle"  # kept alive, waiting for the next request's headers: idle_s
    BODY = "body"  # reading a request body: body_s
    ANSWERING = "answering"  # the program is answering: never cut off, never given way


class Drop(Enum):
    """Why a connection was closed by the server, as the log line says it."""

    FULL = "refused, all slots taken"
    GAVE_WAY = "closed for a newer connection"
    SLOW_HEADERS = "headers too slow"
    SLOW_BODY = "body too slow"
    IDLE = "idle"  # a keep-alive connection nobody used: normal, not logged
    HANDSHAKE = "TLS handshake failed"
    BROKEN = "broken"  # reset or failed mid-request
    MALFORMED = "malformed request"


QUIET_DROPS = frozenset({Drop.IDLE})


@dataclass(frozen=True)
class Limits:
    """A server's bounds: open connections and how long each phase may last (seconds)."""

    connections: int
    header_s: float
    idle_s: float
    body_s: float
    wait_s: float = 0.25  # a new connection waits this long for a slot given way

    def deadline(self, phase: Phase, accepted: float, since: float) -> float | None:
        match phase:
            case Phase.HANDSHAKE | Phase.HEADERS:
                return accepted + self.header_s
            case Phase.IDLE:
                return since + self.idle_s
            case Phase.BODY:
                return since + self.body_s
            case Phase.ANSWERING:
                return None


def drop_for(phase: Phase) -> Drop:
    """Why a connection past its deadline in *phase* is closed."""
    return {
        Phase.HANDSHAKE: Drop.SLOW_HEADERS,
        Phase.HEADERS: Drop.SLOW_HEADERS,
        Phase.IDLE: Drop.IDLE,
        Phase.BODY: Drop.SLOW_BODY,
    }.get(phase, Drop.BROKEN)


class DropTally:
    """Counts dropped connections and says so in at most one line per `every_s`: the first
    drop after a quiet spell at once, the rest summed up when the interval has passed."""

    def __init__(self, label: str, every_s: float = 60.0) -> None:
        self.label = label
        self.every_s = every_s
        self._counts: Counter[Drop] = Counter()
        self._last_line: float | None = None

    def note(self, drop: Drop, now: float) -> str | None:
        if drop in QUIET_DROPS:
            return None
        self._counts[drop] += 1
        return self.due(now)

    def due(self, now: float) -> str | None:
        """The line to log now, if any (and the counts start again)."""
        if not self._counts:
            return None
        if self._last_line is not None and now - self._last_line < self.every_s:
            return None
        total = sum(self._counts.values())
        parts = ", ".join(f"{drop.value}: {n}" for drop, n in self._counts.most_common())
        self._counts.clear()
        self._last_line = now
        return f"{self.label}: {total} connection(s) dropped ({parts})"


@dataclass(eq=False)
class Slot:
    """One open connection: its socket (the TLS one once wrapped) and where it is."""

    sock: socket.socket
    accepted: float
    phase: Phase
    since: float
    dropped: bool = False


def give_way(slots: Iterable[Slot]) -> Slot | None:
    """Which connection to close so a new one can come in: the one waiting longest for a
    request (or its handshake, or its body), never one being answered."""
    waiting = [s for s in slots if not s.dropped and s.phase is not Phase.ANSWERING]
    return min(waiting, key=lambda s: s.since, default=None)


def cut(sock: socket.socket) -> None:
    """Shut a socket down under the thread reading it (which then sees the end), leaving
    the close to that thread; a TLS socket is shut at the socket level, not by TLS."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


@dataclass
class Slots:
    """The open connections of one server, at most `limits.connections`; thread-safe."""

    limits: Limits
    on_drop: Callable[[Drop], None]
    clock: Callable[[], float] = time.monotonic
    _open: dict[int, Slot] = field(default_factory=dict)  # by id() of the slot's socket
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _free: threading.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._free = threading.Semaphore(self.limits.connections)

    def admit(self, sock: socket.socket, phase: Phase) -> Slot | None:
        """A slot for a new connection, another giving way if all are taken; None = refuse."""
        if not self._free.acquire(blocking=False):
            with self._lock:
                victim = give_way(self._open.values())
                if victim is not None:
                    victim.dropped = True
                    cut(victim.sock)
            if victim is not None:
                self.on_drop(Drop.GAVE_WAY)
            if not self._free.acquire(timeout=self.limits.wait_s):
                return None
        now = self.clock()
        slot = Slot(sock, now, phase, now)
        with self._lock:
            self._open[id(sock)] = slot
        return slot

    def rebind(self, slot: Slot, sock: socket.socket) -> None:
        """The connection goes on over *sock* (its TLS wrapping)."""
        with self._lock:
            self._open.pop(id(slot.sock), None)
            slot.sock = sock
            self._open[id(sock)] = slot
            if slot.dropped:
                cut(sock)

    def enter(self, sock: socket.socket, phase: Phase) -> bool:
        """The connection moves on to *phase*; False if it was cut meanwhile (what it read
        may be a fragment: nothing to answer)."""
        with self._lock:
            slot = self._open.get(id(sock))
            if slot is None:
                return True  # not a connection of this table (a test's own socket pair)
            slot.phase, slot.since = phase, self.clock()
            return not slot.dropped

    def release(self, slot: Slot) -> None:
        with self._lock:
            if self._open.pop(id(slot.sock), None) is None:
                return
        self._free.release()

    def sweep(self) -> None:
        """Close every connection past its phase's deadline."""
        now = self.clock()
        overdue = []
        with self._lock:
            for slot in self._open.values():
                deadline = self.limits.deadline(slot.phase, slot.accepted, slot.since)
                if not slot.dropped and deadline is not None and now > deadline:
                    slot.dropped = True
                    cut(slot.sock)
                    overdue.append(slot.phase)
        for phase in overdue:
            self.on_drop(drop_for(phase))

    def cut_all(self) -> None:
        with self._lock:
            for slot in self._open.values():
                cut(slot.sock)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)
