"""Speeds up `signatures.verify_jobs` for the drain benchmark: a batch's record signatures
are verified by processes beside the request thread while it goes on reading the batch.

Equality with the plain path: tests/test_province_verifier.py holds the verdicts to those of
`verify_jobs` for batches of every size around a chunk, and through a process that dies.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass

from simulator.province.signatures import SignatureJob, verify_jobs
from simulator.province.speed.verifier import VerifierProcess

VERIFY_CHUNK = 32  # signatures handed to a verifying process at once
QUEUED_CHUNKS = 2  # chunks a process may have waiting; more are the request thread's
STOP_WAIT_SECONDS = 5.0

log = logging.getLogger(__name__)


class SignatureChecker:
    """Verifies a batch's record signatures on all cores while the request thread reads it.

    Chunks of a batch's signatures go to verifying processes (`verifier.py`, one per core but
    the request thread's) as the request thread validates the records, as long as those keep
    up; the chunks they could not take yet, and the last few, the request thread verifies
    itself once it has read the batch, while the processes finish theirs. The processes
    start with the first batch big enough to share. A batch verifies on the request thread
    alone when it is small, when another batch has the processes, on a single core, and when
    a process fails (the processes are then started afresh for a later batch).
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(0, workers - 1)  # processes beside the request thread
        self._lock = threading.Lock()  # held by the one stream using the processes
        self._processes: list[VerifierProcess] = []
        self._open = False

    def start(self) -> None:
        self._open = True

    def close(self) -> None:
        """Stop the verifying processes (after the batch using them, if any)."""
        acquired = self._lock.acquire(timeout=STOP_WAIT_SECONDS)
        try:
            self._open = False
            self._stop_processes()
        finally:
            if acquired:
                self._lock.release()

    def stream(self) -> SignatureStream:
        """A batch's verification, started while its records are still being read."""
        return SignatureStream(self)

    def verify_all(self, jobs: list[SignatureJob]) -> list[bool]:
        with self.stream() as stream:
            for job in jobs:
                stream.add(job)
            return stream.verdicts()

    def _borrow(self) -> list[VerifierProcess] | None:
        """The verifying processes for one stream, or None: verify on the caller's thread."""
        if not self.workers or not self._lock.acquire(blocking=False):
            return None
        if self._open and not self._processes:
            try:
                self._processes = [VerifierProcess() for _ in range(self.workers)]
            except OSError:
                log.exception("cannot start verifying processes; verifying on request threads")
                self._stop_processes()
                self.workers = 0
        if not self._processes:
            self._lock.release()
            return None
        return self._processes

    def _give_back(self, healthy: bool) -> None:
        if not healthy:
            self._stop_processes()
        self._lock.release()

    def _stop_processes(self) -> None:
        processes, self._processes = self._processes, []
        for process in processes:
            process.close()


@dataclass
class _Chunk:
    jobs: list[SignatureJob]
    verdicts: list[bool] | None = None


class SignatureStream:
    """One batch's signatures: `add()` each as its record is read, then `verdicts()`, one per
    signature in the order added. Use it as a context manager, so that processes are given
    back (and their unread answers dropped with them) even when reading the batch fails."""

    def __init__(self, checker: SignatureChecker) -> None:
        self._checker = checker
        self._pending: list[SignatureJob] = []
        self._chunks: list[_Chunk] = []
        self._held: list[_Chunk] = []  # for the request thread, unless a process gets free
        self._sent: dict[VerifierProcess, deque[_Chunk]] = {}  # per process, oldest first
        self._borrowed = False
        self._healthy = True

    def __enter__(self) -> SignatureStream:
        return self

    def __exit__(self, *exc: object) -> None:
        if any(self._sent.values()):
            self._healthy = False  # answers left unread: the processes are out of step
        self._finish()

    def add(self, job: SignatureJob) -> None:
        self._pending.append(job)
        if len(self._pending) >= VERIFY_CHUNK:  # worth sharing: borrow the processes
            if not self._borrowed:
                self._borrowed = True
                for process in self._checker._borrow() or ():
                    self._sent[process] = deque()
            self._flush()
            self._feed()

    def share(self, chunks: int) -> None:
        """Everything added: let the processes queue *chunks* more than usual, to verify while
        this thread turns to other work before it asks for the verdicts."""
        self._flush()
        self._feed(QUEUED_CHUNKS + chunks)

    def verdicts(self) -> list[bool]:
        """Verify what is held here, handing more to the processes whenever one has room,
        then collect their answers."""
        self._flush()
        while self._held:
            self._feed()
            if self._held:
                chunk = self._held.pop()  # from the newest: the processes take the oldest
                chunk.verdicts = verify_jobs(chunk.jobs)
        for process, queue in self._sent.items():
            while queue:
                self._receive(process, queue.popleft())
        verdicts = [verdict for chunk in self._chunks for verdict in chunk.verdicts or ()]
        self._finish()
        return verdicts

    def _flush(self) -> None:
        if self._pending:
            self._held.append(self._chunk(self._pending))
            self._pending = []

    def _chunk(self, jobs: list[SignatureJob]) -> _Chunk:
        chunk = _Chunk(jobs)
        self._chunks.append(chunk)
        return chunk

    def _feed(self, queued: int = QUEUED_CHUNKS) -> None:
        """Take in the answers that are there, then give the oldest held chunks to the
        processes (if borrowed) that have fewer than *queued* waiting."""
        for process, queue in self._sent.items():
            while self._healthy and queue and process.ready():
                self._receive(process, queue.popleft())
            while self._healthy and self._held and len(queue) < queued:
                chunk = self._held.pop(0)
                try:
                    process.send(chunk.jobs)
                except OSError:
                    self._held.insert(0, chunk)
                    self._failed()
                    return
                queue.append(chunk)

    def _receive(self, process: VerifierProcess, chunk: _Chunk) -> None:
        """The chunk's verdicts from its process (the oldest answer it owes), or verified
        here if the process has failed."""
        if self._healthy:
            try:
                chunk.verdicts = process.receive(len(chunk.jobs))
                return
            except (OSError, EOFError):
                self._failed()
        chunk.verdicts = verify_jobs(chunk.jobs)

    def _failed(self) -> None:
        log.warning("a verifying process failed; verifying on the request thread")
        self._healthy = False

    def _finish(self) -> None:
        if self._sent:
            self._sent = {}
            self._checker._give_back(self._healthy)
