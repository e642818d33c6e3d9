"""A test-only command channel into the booted appliance, added for one boot from outside
the image: never part of a built image, so a production device has no such door.

How it gets in: QEMU boots the image's kernel with the image's initramfs followed by a small
second archive made here (the kernel unpacks both). That archive replaces the initramfs's
last-step list with the image's own list plus one step, which writes a systemd unit and its
script into /run (a tmpfs that becomes the booted system's /run). The unit serves the
virtio-serial port `haochaping.test` as root: one line in, `ID SECONDS BASE64(script)`; one
line out, `R ID EXIT BASE64(output)`. Only the host end of that port (a Unix socket of this
QEMU process) reaches it; no network is involved.
"""

from __future__ import annotations

import base64
import io
import itertools
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

PORT_NAME = "haochaping.test"
UNIT = "haochaping-test-console.service"
STEP = "/scripts/init-bottom/haochaping-test-console"

SERVE_SCRIPT = f"""#!/bin/bash
# Test-only command channel (see simulator/appliance/console.py); lives in /run only.
port=/dev/virtio-ports/{PORT_NAME}
work=/run/haochaping-test-console
# The host end may come and go: at end of input (host gone) open the port again.
while true; do
    while [ ! -e "$port" ]; do sleep 0.2; done
    exec 3<>"$port" || {{ sleep 1; continue; }}
    while IFS=' ' read -r id seconds script <&3; do
        if ! printf '%s' "$script" | base64 -d >"$work/cmd" 2>/dev/null; then
            echo "R $id 126 " >&3
            continue
        fi
        timeout --kill-after=5 "$seconds" /bin/bash "$work/cmd" >"$work/out" 2>&1 </dev/null
        rc=$?
        printf 'R %s %s %s\\n' "$id" "$rc" "$(base64 -w0 "$work/out")" >&3
    done
    exec 3<&-
    sleep 0.5
done
"""

UNIT_TEXT = """[Unit]
Description=Test-only command channel of the VM test (added from outside the image for one boot)
After=local-fs.target
StartLimitIntervalSec=0
[Service]
ExecStart=/bin/bash /run/haochaping-test-console/serve
Restart=always
RestartSec=1
"""

STEP_SCRIPT = f"""#!/bin/sh
# Test-only (simulator/appliance/console.py): install the command channel into /run.
mkdir -p /run/haochaping-test-console /run/systemd/system/multi-user.target.wants
cat /haochaping-test-console/serve >/run/haochaping-test-console/serve
cat /haochaping-test-console/{UNIT} >/run/systemd/system/{UNIT}
ln -sf ../{UNIT} /run/systemd/system/multi-user.target.wants/{UNIT}
"""


def _cpio_entry(name: str, data: bytes, mode: int) -> bytes:
    """One entry of a "newc" cpio archive (what the kernel unpacks as an initramfs)."""
    name_bytes = name.encode() + b"\0"
    fields = [0, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_bytes), 0]
    header = b"070701" + b"".join(b"%08X" % value for value in fields)
    out = io.BytesIO()
    out.write(header + name_bytes)
    out.write(b"\0" * (-out.tell() % 4))
    out.write(data)
    out.write(b"\0" * (-out.tell() % 4))
    return out.getvalue()


def console_initrd(original_order: str) -> bytes:
    """The extra initramfs archive: the channel's files and the last-step list
    (*original_order*, the image's own, from build.sh) with our step in front."""
    order = f'{STEP} "$@"\n[ -e /conf/param.conf ] && . /conf/param.conf\n' + original_order
    files = [
        ("haochaping-test-console", b"", 0o040755),
        ("haochaping-test-console/serve", SERVE_SCRIPT.encode(), 0o100755),
        (f"haochaping-test-console/{UNIT}", UNIT_TEXT.encode(), 0o100644),
        ("scripts", b"", 0o040755),
        ("scripts/init-bottom", b"", 0o040755),
        (STEP.lstrip("/"), STEP_SCRIPT.encode(), 0o100755),
        ("scripts/init-bottom/ORDER", order.encode(), 0o100644),
    ]
    archive = b"".join(_cpio_entry(name, data, mode) for name, data, mode in files)
    archive += _cpio_entry("TRAILER!!!", b"", 0)
    return archive + b"\0" * (-len(archive) % 512)


def with_console(initrd: Path, original_order: str, dest: Path) -> Path:
    """Write *dest*: the image's initramfs followed by the channel's archive."""
    original = initrd.read_bytes()
    padding = b"\0" * (-len(original) % 512)  # the kernel skips zeros between archives
    dest.write_bytes(original + padding + console_initrd(original_order))
    return dest


class GuestCommandError(RuntimeError):
    """A command in the guest exited non-zero; carries its output."""

    def __init__(self, command: str, result: CommandResult) -> None:
        first_line = command.strip().splitlines()[0] if command.strip() else ""
        output = result.output[-2000:]
        super().__init__(f"{first_line!r}... exited {result.exit_code}:\n{output}")
        self.result = result


class ConsoleTimeoutError(TimeoutError):
    """The guest did not answer in time (not booted yet, hung, or powered off)."""


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str  # stdout and stderr together
    seconds: float


class GuestConsole:
    """The host end of the channel: `run(script)` runs a bash script in the guest as root."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        # unique across clients: an answer left over from an earlier client is skipped
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid()}.{secrets.token_hex(3)}."
        self._sock: socket.socket | None = None
        self._buffer = b""

    def _connected(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(self.socket_path))
            self._sock = sock
            self._buffer = b""
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def run(self, script: str, timeout_s: float = 120.0, *, check: bool = True) -> CommandResult:
        """Run *script*; with *check*, a non-zero exit raises GuestCommandError."""
        started = time.monotonic()
        command_id = f"{self._prefix}{next(self._ids)}"
        payload = base64.b64encode(script.encode()).decode()
        guest_limit = max(1, int(timeout_s))
        sock = self._connected()
        sock.sendall(f"{command_id} {guest_limit} {payload}\n".encode())
        deadline = started + timeout_s + 10
        while True:
            line = self._read_line(deadline)
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[0] == "R" and parts[1] == command_id:
                output = (
                    base64.b64decode(parts[3]).decode(errors="replace") if len(parts) > 3 else ""
                )
                result = CommandResult(int(parts[2]), output, time.monotonic() - started)
                if check and result.exit_code != 0:
                    raise GuestCommandError(script, result)
                return result
            # an answer to an earlier command we gave up on: skip it

    def wait_ready(self, timeout_s: float) -> float:
        """Wait until the guest answers; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            try:
                self.run("true", timeout_s=min(5.0, max(1.0, deadline - time.monotonic())))
                return time.monotonic() - started
            except ConsoleTimeoutError:
                pass  # keep the connection: what was sent waits in QEMU until the guest reads
            except OSError:
                self.close()  # no socket yet (QEMU starting)
                time.sleep(0.5)
        raise ConsoleTimeoutError(
            f"the guest's command channel did not answer in {timeout_s:.0f} s"
        )

    def _read_line(self, deadline: float) -> str:
        sock = self._connected()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConsoleTimeoutError("no answer from the guest in time")
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise ConsoleTimeoutError("no answer from the guest in time") from None
            if not chunk:
                self.close()
                raise ConsoleTimeoutError("the channel closed (guest powered off?)")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace").strip()
