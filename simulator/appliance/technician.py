"""The technician's way into the appliance: the host's own `ssh`, as `technician`, with the
harness's key, to the guest's SSH server forwarded on the host's 127.0.0.1.

One ssh configuration file per run names the device `appliance` (port, key, the run's own
known-hosts file); one master connection carries every command, so a command costs no new
key exchange under emulation. The first connection takes the device's host key into the
run's known-hosts file; `strict()` afterwards accepts only that same key.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ALIAS = "appliance"
USER = "technician"


class SshError(RuntimeError):
    """The device's SSH server did not let the technician in in time."""


@dataclass(frozen=True)
class Done:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Technician:
    """`run(command)` runs a shell command line on the device as `technician`."""

    def __init__(self, key: Path, port: int, workdir: Path) -> None:
        self.key = key
        self.port = port
        workdir.mkdir(parents=True, exist_ok=True)
        self.known_hosts = workdir / "known_hosts"
        # the master's socket path must stay short (a Unix socket name is at most 107 bytes)
        self._control_dir = Path(tempfile.mkdtemp(prefix="hcp-ssh-"))
        self.config = workdir / "ssh_config"
        self.config.write_text(
            f"Host {ALIAS}\n"
            f"    HostName 127.0.0.1\n"
            f"    Port {port}\n"
            f"    User {USER}\n"
            f"    IdentityFile {key}\n"
            f"    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {self.known_hosts}\n"
            f"    GlobalKnownHostsFile /dev/null\n"
            f"    StrictHostKeyChecking accept-new\n"
            f"    BatchMode yes\n"
            f"    ConnectTimeout 30\n"
            f"    ServerAliveInterval 10\n"
            f"    ControlMaster auto\n"
            f"    ControlPath {self._control_dir}/%C\n"
            f"    ControlPersist 120\n"
            f"    LogLevel ERROR\n"
        )

    def ssh(self, *options: str) -> list[str]:
        """The ssh command line up to the remote command."""
        return ["ssh", "-F", str(self.config), *options, ALIAS]

    def run(
        self,
        command: str,
        timeout_s: float = 120.0,
        *,
        stdin: str | None = None,
        tty: bool = False,
    ) -> Done:
        """Run *command* (one shell line, as typed) on the device; with *tty*, on a terminal
        as in an interactive login (what an editor needs)."""
        options = ["-tt"] if tty else []
        return self.local([*self.ssh(*options), "--", command], timeout_s, stdin=stdin)

    def local(
        self,
        argv: list[str] | str,
        timeout_s: float = 120.0,
        *,
        stdin: str | None = None,
        cwd: Path | None = None,
    ) -> Done:
        """Run a program on the host (a list), or a shell line (a string)."""
        started = time.monotonic()
        try:
            proc = subprocess.run(  # noqa: S603 (the guide's own commands, and ssh)
                argv,
                shell=isinstance(argv, str),
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                timeout=timeout_s,
                cwd=cwd,
                check=False,
                env={**os.environ, "LC_ALL": "C.UTF-8"},
            )
        except subprocess.TimeoutExpired as expired:
            out = expired.stdout or ""
            err = expired.stderr or ""
            return Done(
                124,
                out if isinstance(out, str) else out.decode(errors="replace"),
                err if isinstance(err, str) else err.decode(errors="replace"),
                time.monotonic() - started,
            )
        return Done(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)

    def wait_ready(self, timeout_s: float) -> float:
        """Wait until the technician can log in; returns the seconds waited."""
        started = time.monotonic()
        last = ""
        while time.monotonic() - started < timeout_s:
            done = self.run("true", timeout_s=40)
            if done.exit_code == 0:
                return time.monotonic() - started
            last = done.stderr.strip()
            self.close()
            time.sleep(2)
        raise SshError(f"no ssh login in {timeout_s:.0f} s: {last}")

    def strict(self) -> Done:
        """Log in accepting only the host key seen before (a new connection)."""
        options = ["-o", "StrictHostKeyChecking=yes", "-o", "ControlPath=none"]
        return self.local([*self.ssh(*options), "--", "true"], 60)

    def refused(self, *options: str) -> Done:
        """A login that must be refused (a new connection, never the master's)."""
        base = ["-o", "ControlPath=none", "-o", "ControlMaster=no"]
        return self.local([*self.ssh(*base, *options), "--", "true"], 60)

    def host_key_fingerprint(self) -> str:
        done = self.local(["ssh-keygen", "-l", "-f", str(self.known_hosts)], 30)
        return done.stdout.split()[1] if done.exit_code == 0 and done.stdout.split() else ""

    def close(self) -> None:
        """End the master connection (before the device goes down)."""
        self.local([*self.ssh("-O", "exit")], 20)
