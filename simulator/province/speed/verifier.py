"""The verifying processes of `speed/signature_pool.py` (which speeds up
`signatures.verify_jobs`): record signatures checked beside the request thread, which
meanwhile goes on reading the batch. (A verifying thread would have to win the GIL back
from the busy request thread after every signature, and mostly waits.)

`python -m simulator.province.speed.verifier` reads frames on stdin and answers each one on
stdout with one verdict byte per job (1 verified, 0 not), in order, until its input ends. A
frame is a 4-byte big-endian length and a pickle of `[(public key base64, signature base64, signed
bytes), …]`; only the province that started the process writes to it.

Equality with the plain path: tests/test_province_verifier.py checks one verdict byte per job,
in order, against `signatures.verify_jobs`.
"""

from __future__ import annotations

import contextlib
import fcntl
import pickle
import select
import signal
import struct
import subprocess
import sys
from typing import IO

from simulator.province.speed.ed25519 import verify

Job = tuple[str, str, bytes]  # public key (base64), signature (base64), signed bytes
HEADER = struct.Struct("!I")
PIPE_BYTES = 1 << 20  # pipes this big take a whole batch without the writer waiting
STOP_SECONDS = 2.0


def verdict(job: Job) -> bool:
    """Whether one job's signature verifies."""
    return verify(*job)


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """The worker's loop: frames of jobs in, verdict bytes out, until the input ends."""
    while True:
        frame = _read_frame(source)
        if frame is None:
            return
        answer = bytes(verdict(job) for job in pickle.loads(frame))  # noqa: S301
        sink.write(HEADER.pack(len(answer)) + answer)
        sink.flush()


def _read_frame(source: IO[bytes]) -> bytes | None:
    header = source.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    frame = source.read(size)
    if len(frame) < size:
        raise EOFError("a frame was cut short")
    return frame


class VerifierProcess:
    """One verifying process, seen from the province: send chunks of jobs, then receive their
    verdicts in the same order; `ready()` tells without waiting whether an answer is in."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulator.province.speed.verifier"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        if self.process.stdin is None or self.process.stdout is None:  # pragma: no cover
            raise OSError("the verifying process has no pipes")
        self._jobs, self._verdicts = self.process.stdin, self.process.stdout
        for pipe in (self._jobs, self._verdicts):
            with contextlib.suppress(OSError, AttributeError):  # Linux only; a size, not a must
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)

    def send(self, jobs: list[Job]) -> None:
        frame = pickle.dumps(jobs, protocol=pickle.HIGHEST_PROTOCOL)
        _write_all(self._jobs, HEADER.pack(len(frame)) + frame)

    def ready(self) -> bool:
        """Whether the oldest outstanding answer can be received without waiting (an answer
        is one write of at most a few hundred bytes, so it arrives whole)."""
        readable, _, _ = select.select([self._verdicts], [], [], 0)
        return bool(readable)

    def receive(self, count: int) -> list[bool]:
        """The verdicts of the oldest chunk sent and not yet answered (*count* jobs)."""
        (size,) = HEADER.unpack(_read_exactly(self._verdicts, HEADER.size))
        answer = _read_exactly(self._verdicts, size)
        if len(answer) != count:
            raise EOFError("the verifying process answered out of step")
        return [byte == 1 for byte in answer]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._jobs.close()
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._verdicts.close()


def _write_all(pipe: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = pipe.write(view)
        view = view[written or 0 :]


def _read_exactly(pipe: IO[bytes], size: int) -> bytes:
    parts: list[bytes] = []
    while size:
        part = pipe.read(size)
        if not part:
            raise EOFError("the verifying process is gone")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the province's to handle
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
