"""Running systemd/install.sh the way a technician would: the tools it needs, a run of the
script, a snapshot of a root it laid out, and the script run twice into a fresh root."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT as REPO

SYSTEMD = REPO / "systemd"
INSTALL = SYSTEMD / "install.sh"
VENV = "/opt/haochaping/venv"
INSTALL_TIMEOUT_S = 240  # a first run downloads the Python dependencies; later ones ~10 s


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (./dev test installs it when run as root)")
    return path


def run_install(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def snapshot(root: Path, skip: str | None = None) -> dict[str, tuple[int, int, int, str]]:
    """Every path under root: mode, owner, group and content hash (link target for links)."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if skip and (rel == skip or rel.startswith(skip + "/")):
            continue
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            content = "-> " + os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = ""
        found[rel] = (st.st_mode, st.st_uid, st.st_gid, content)
    return found


@dataclass
class Installed:
    root: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    before_second: dict[str, tuple[int, int, int, str]]
    after_second: dict[str, tuple[int, int, int, str]]
    build_dir_appeared: bool


def install_twice(root: Path) -> Installed:
    """install.sh run twice into `root`, which already holds a provisioned device.toml."""
    config = root / "etc" / "haochaping" / "device.toml"
    config.parent.mkdir(parents=True)
    config.write_text("# provisioned on site\n[device]\nstate_dir = '/var/lib/haochaping'\n")
    config.chmod(0o600)
    args = ("--root", str(root), "--source", str(REPO))
    had_build_dir = (REPO / "build").exists()
    first = run_install(*args, timeout=INSTALL_TIMEOUT_S)
    assert first.returncode == 0, first.stdout + first.stderr
    before = snapshot(root, skip=VENV.lstrip("/"))
    second = run_install(*args, timeout=INSTALL_TIMEOUT_S)
    after = snapshot(root, skip=VENV.lstrip("/"))
    appeared = not had_build_dir and (REPO / "build").exists()
    return Installed(root, first, second, before, after, appeared)
