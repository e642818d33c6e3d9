"""One appliance in QEMU: its disk keeps its state from boot to boot, QEMU is started with
the screen, keypad, touch and network of a hall, and stopped by a power cut (SIGKILL) or by
pressing the power button.

What the guest gets:
- screen: virtio-gpu at 1024×600 (the kernel's KMS/DRM driver; the evaluator draws on it
  through dumb buffers, [display] output = "kms"); QEMU keeps a VNC display on a Unix socket
  only so that its copy of the screen follows the guest's flips, and `screendump` reads it;
- keypad: a USB serial adapter (FTDI, /dev/ttyUSB0 in the guest) whose far end is a host
  tty, e.g. the pty of simulator/virtual_keypad.py;
- touch: a USB tablet (absolute pointer; `tap(x, y)` puts a finger on the glass);
- network: QEMU's user-mode network with restrict=on (the guest reaches nothing outside the
  virtual LAN, not even the host at 10.0.2.2); the province port on the host's 127.0.0.1
  appears to the guest at 10.0.2.100 on the same port (guestfwd, through relay.py), and
  the guest's local API port and its SSH port are forwarded from 127.0.0.1 on the host
  (hostfwd);
- time: NTP from timeserver.py on a second, private link (the restricted network carries
  no UDP);
- the kernel's console on the first serial port, kept in `serial.log`;
- with `test_console`, the test-only command channel of console.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from simulator.appliance.console import (
    ConsoleTimeoutError,
    GuestCommandError,
    GuestConsole,
    with_console,
)
from simulator.appliance.image import Image
from simulator.appliance.qmp import Qmp, QmpError
from simulator.appliance.timeserver import GUEST_MAC as TIME_LINK_MAC

GUEST_HOST_ADDRESS = "10.0.2.2"  # the host as the guest sees it (QEMU's gateway): refused
# by restrict=on; the province is forwarded from this address of the virtual LAN instead
# (QEMU takes no forward on the gateway's own address)
PROVINCE_IN_GUEST = "10.0.2.100"
GUEST_LOCAL_API_PORT = 8470
GUEST_SSH_PORT = 22
SCREEN_SIZE = (1024, 600)
KEYPAD_IN_GUEST = "/dev/ttyUSB0"
TABLET_SPAN = 32767  # QEMU's usb-tablet: absolute axes 0..32767 across the screen
PR_SET_PDEATHSIG = 1
RELAY = Path(__file__).with_name("relay.py")


class ApplianceError(RuntimeError):
    """QEMU could not be started, or stopped unexpectedly."""


@dataclass(frozen=True)
class Wiring:
    """What the appliance is connected to on the host.

    keypad_tty: a host tty that becomes the guest's /dev/ttyUSB0 (None: no keypad).
    province_port: a port on the host's 127.0.0.1, reached by the guest as 10.0.2.100:port.
    local_api_port: a port on the host's 127.0.0.1 forwarded to the guest's local API.
    time_link: the -netdev of a private link to a time server (timeserver.TimeServer).
    ssh_port: a port on the host's 127.0.0.1 forwarded to the guest's SSH server (22).
    """

    keypad_tty: str | None = None
    province_port: int | None = None
    local_api_port: int | None = None
    time_link: str | None = None
    ssh_port: int | None = None


def _die_with_parent() -> None:
    """In QEMU's process before exec: SIGKILL it when the harness dies (no orphan VMs)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def netdev_option(wiring: Wiring) -> str:
    """The user-mode network: restricted, with only the two forwards of *wiring*."""
    parts = ["user", "id=net0", "restrict=on"]
    if wiring.local_api_port is not None:
        parts.append(f"hostfwd=tcp:127.0.0.1:{wiring.local_api_port}-:{GUEST_LOCAL_API_PORT}")
    if wiring.ssh_port is not None:
        parts.append(f"hostfwd=tcp:127.0.0.1:{wiring.ssh_port}-:{GUEST_SSH_PORT}")
    if wiring.province_port is not None:
        port = wiring.province_port
        relay = f"{sys.executable} {RELAY} 127.0.0.1 {port}"  # one per guest connection
        parts.append(f"guestfwd=tcp:{PROVINCE_IN_GUEST}:{port}-cmd:{relay}")
    return ",".join(parts)


class Appliance:
    """One device: `boot()`, then `console.run(...)`, `screendump(...)`, `power_cut()` or
    `power_off()`; `boot()` again starts it from the same disk.

    The disk is a copy-on-write file over the image's disk (the image stays untouched), or
    over *card*, a raw copy of it (what `dd` wrote to a card), in *workdir*, with everything
    else this machine makes: serial.log, the sockets, screens.
    """

    def __init__(
        self,
        image: Image,
        workdir: Path,
        wiring: Wiring,
        *,
        test_console: bool = True,
        memory_mb: int = 1024,
        cpus: int = 2,
        card: Path | None = None,
    ) -> None:
        self.image = image
        self.card = card if card is not None else image.disk
        self.workdir = workdir
        self.wiring = wiring
        self.test_console = test_console
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.disk = workdir / "disk.qcow2"
        self.serial_log = workdir / "serial.log"
        self.qmp_socket = workdir / "qmp.sock"
        self.console_socket = workdir / "console.sock"
        self.vnc_socket = workdir / "vnc.sock"
        self.console = GuestConsole(self.console_socket)
        self.boots = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._qmp: Qmp | None = None
        self._booted_at = 0.0

    # -- life cycle ---------------------------------------------------------------------

    def command_line(self) -> list[str]:
        """The QEMU command line of the next boot."""
        initrd = self.image.initrd
        if self.test_console:
            order = (self.image.folder / "initrd-init-bottom.ORDER").read_text()
            initrd = with_console(self.image.initrd, order, self.workdir / "initrd-test.img")
        qemu = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"
        args = [
            qemu,
            "-nodefaults",
            "-machine", "q35",
            "-accel", "tcg,thread=multi",
            "-cpu", "max",
            "-smp", str(self.cpus),
            "-m", str(self.memory_mb),
            "-kernel", str(self.image.kernel),
            "-initrd", str(initrd),
            "-append", self.image.cmdline,
            "-drive", f"file={self.disk},format=qcow2,if=virtio,cache=writeback",
            "-device", f"virtio-gpu-pci,xres={SCREEN_SIZE[0]},yres={SCREEN_SIZE[1]}",
            "-display", "none",
            "-vnc", f"unix:{self.vnc_socket}",
            "-device", "qemu-xhci,id=usb",
            "-device", "usb-tablet,bus=usb.0",
            "-netdev", netdev_option(self.wiring),
            "-device", "virtio-net-pci,netdev=net0",
            "-serial", f"file:{self.serial_log}",
            "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
            "-no-reboot",
        ]  # fmt: skip
        if self.wiring.keypad_tty is not None:
            args += ["-chardev", f"serial,id=keypad,path={self.wiring.keypad_tty}"]
            args += ["-device", "usb-serial,bus=usb.0,chardev=keypad"]
        if self.wiring.time_link is not None:
            args += ["-netdev", self.wiring.time_link]
            args += ["-device", f"virtio-net-pci,netdev=timelink,mac={TIME_LINK_MAC}"]
        if self.test_console:
            args += ["-chardev", f"socket,id=console,path={self.console_socket},server=on,wait=off"]
            args += ["-device", "virtio-serial-pci", "-device"]
            args += ["virtserialport,chardev=console,name=haochaping.test"]
        return args

    def boot(self) -> None:
        """Power on: start QEMU (a new disk over the image on the first boot)."""
        if self.running:
            raise ApplianceError("already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.disk.exists():
            qemu_img = shutil.which("qemu-img") or "qemu-img"
            backing = ["-F", "raw", "-b", str(self.card)]
            create = [qemu_img, "create", "-q", "-f", "qcow2", *backing, str(self.disk)]
            subprocess.run(create, check=True)  # noqa: S603 (fixed program, our own paths)
        for stale in (self.qmp_socket, self.console_socket, self.vnc_socket):
            stale.unlink(missing_ok=True)
        log = (self.workdir / "qemu.log").open("ab")
        self._process = subprocess.Popen(  # noqa: S603 (QEMU, our own arguments)
            self.command_line(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (one prctl call, no locks)
        )
        log.close()
        self._booted_at = time.monotonic()
        self.boots += 1
        self._qmp = Qmp(self.qmp_socket)
        try:
            self._qmp.connect(wait_s=30)
        except Exception as error:
            self.power_cut()
            raise ApplianceError(
                f"QEMU did not start: {error}; see {self.workdir / 'qemu.log'}"
            ) from None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def seconds_since_boot(self) -> float:
        return time.monotonic() - self._booted_at

    def power_cut(self) -> None:
        """Power gone: SIGKILL QEMU. What the guest had not written to its disk is lost."""
        self.console.close()
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        if self._process is not None:
            if self._process.poll() is None:
                os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait()
            self._process = None

    def power_off(self, timeout_s: float = 90.0) -> bool:
        """Shut the guest down cleanly and wait for QEMU to end; True if it did, else the
        power is cut. Asks through the command channel (`systemctl poweroff`) when there
        is one, else presses the power button (ACPI)."""
        if not self.running or self._process is None:
            self.power_cut()
            return False
        asked = False
        if self.test_console:
            try:
                self.console.run("systemctl poweroff --no-block", timeout_s=20)
                asked = True
            except GuestCommandError:
                pass
            except (ConsoleTimeoutError, OSError):
                asked = True  # the channel closed under us: the guest is going down
        if not asked and self._qmp is not None:
            with contextlib.suppress(QmpError):  # QEMU already gone: the wait says so
                self._qmp.command("system_powerdown")
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.power_cut()
            return False
        self.power_cut()
        return True

    # -- what it shows --------------------------------------------------------------------

    def tap(self, x: int, y: int) -> None:
        """A finger on the glass at pixel (*x*, *y*): the usb-tablet's absolute position
        (0–32767 across the screen), its button down, then up."""
        if self._qmp is None:
            raise ApplianceError("not running")
        width, height = SCREEN_SIZE
        at = [
            {"type": "abs", "data": {"axis": "x", "value": round(x * TABLET_SPAN / (width - 1))}},
            {"type": "abs", "data": {"axis": "y", "value": round(y * TABLET_SPAN / (height - 1))}},
        ]
        self._qmp.command("input-send-event", events=at)
        for down in (True, False):
            button = {"type": "btn", "data": {"down": down, "button": "left"}}
            self._qmp.command("input-send-event", events=[button])
            time.sleep(0.1)

    def screendump(self, dest: Path) -> Path:
        """What the screen shows now, as a PNG (QEMU's copy of the guest's scanout)."""
        if self._qmp is None:
            raise ApplianceError("not running")
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._qmp.command("screendump", filename=str(dest), format="png")
        return dest
