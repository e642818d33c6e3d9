"""Joins standard input and output to a TCP port on the host's 127.0.0.1.

QEMU runs one per connection the guest opens to the forwarded province address
(`guestfwd=...-cmd:python relay.py 127.0.0.1 PORT`): a plain `tcp:` target would be one
connection made when QEMU starts, shared by every guest connection. Standalone (no imports
from the project): QEMU starts it with its own environment. Writes nothing to stderr, which
QEMU joins to the guest's connection too.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

CHUNK = 65536


def _upstream(sock: socket.socket) -> None:
    """Guest to host, until the guest closes its side."""
    try:
        while data := os.read(0, CHUNK):
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] != "127.0.0.1":
        return 2  # loopback only, whatever the command line says
    try:
        sock = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
    except OSError:
        return 1
    sock.settimeout(None)
    threading.Thread(target=_upstream, args=(sock,), daemon=True).start()
    try:
        while data := sock.recv(CHUNK):
            view = memoryview(data)
            while view:
                view = view[os.write(1, view) :]
    except OSError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
