"""The appliance's disk image as `systemd/image/build.sh` leaves it: build it (or take the
cached one whose inputs are unchanged) and name its parts."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TREE = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = TREE / "systemd" / "image" / "build.sh"
DEFAULT_OUT = TREE / "out" / "image"


class ImageBuildError(RuntimeError):
    """build.sh failed; the message carries the end of its output."""


@dataclass(frozen=True)
class Image:
    """One built image folder: the raw disk, the kernel and initramfs QEMU boots, and the
    kernel command line the image expects."""

    folder: Path

    @property
    def disk(self) -> Path:
        return self.folder / "disk.img"

    @property
    def kernel(self) -> Path:
        return self.folder / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.folder / "initrd.img"

    @property
    def cmdline(self) -> str:
        return (self.folder / "cmdline").read_text().strip()

    @property
    def info(self) -> dict[str, Any]:
        """build.json: arch, inputs hash, sizes, build seconds."""
        loaded: dict[str, Any] = json.loads((self.folder / "build.json").read_text())
        return loaded


@dataclass(frozen=True)
class BuiltImage:
    image: Image
    seconds: float  # what this call took (a cached image: a second or so)
    cached: bool


def build_image(
    arch: str = "amd64", out: Path = DEFAULT_OUT, timeout_s: float = 1800
) -> BuiltImage:
    """Run build.sh (root needed; it installs its tools with apt-get) and return the image.

    A cached image with the same inputs is returned without building.
    """
    started = time.monotonic()
    proc = subprocess.run(  # noqa: S603 (our own build script)
        [str(BUILD_SCRIPT), "--arch", arch, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or "").splitlines()[-30:])
        raise ImageBuildError(f"{BUILD_SCRIPT} exited {proc.returncode}:\n{tail}")
    folder = Path(proc.stdout.strip().splitlines()[-1])
    return BuiltImage(Image(folder), time.monotonic() - started, "cached" in proc.stderr)
