"""The appliance's disk image as `systemd/image/build.sh` leaves it: build it (or take the
cached one whose inputs are unchanged) and name its parts.

Images built here let one technician key in: the harness's own, made once with the field
guide's `ssh-keygen` command and kept beside the images (its public half is one of the
image's inputs, so it stays the same while the cached image is used)."""

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
KEY_NAME = "technician-key"  # a folder beside the images: id_ed25519, id_ed25519.pub
KEYGEN = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "haochaping-vm-test", "-f"]


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
class TechnicianKey:
    """The key the harness logs in with: `private` (0600) and `private`.pub."""

    private: Path
    made_now: bool  # False: made by an earlier run and reused

    @property
    def public(self) -> Path:
        return self.private.with_name(self.private.name + ".pub")


def technician_key(out: Path = DEFAULT_OUT) -> TechnicianKey:
    """The harness's technician key, made if there is none yet."""
    private = out / KEY_NAME / "id_ed25519"
    public = private.with_name(private.name + ".pub")
    if private.is_file() and public.is_file():
        return TechnicianKey(private, made_now=False)
    private.parent.mkdir(parents=True, exist_ok=True)
    for stale in (private, public):
        stale.unlink(missing_ok=True)
    subprocess.run([*KEYGEN, str(private)], check=True, timeout=60)  # noqa: S603
    return TechnicianKey(private, made_now=True)


@dataclass(frozen=True)
class BuiltImage:
    image: Image
    seconds: float  # what this call took (a cached image: a second or so)
    cached: bool
    key: TechnicianKey


def build_command(arch: str, out: Path, key: TechnicianKey) -> list[str]:
    """build.sh's arguments for an image the harness's key can log in to."""
    keys = ["--authorized-keys", str(key.public)]
    return [str(BUILD_SCRIPT), "--arch", arch, *keys, "--out", str(out)]


def build_image(
    arch: str = "amd64", out: Path = DEFAULT_OUT, timeout_s: float = 1800
) -> BuiltImage:
    """Run build.sh (root needed; it installs its tools with apt-get) and return the image.

    A cached image with the same inputs is returned without building.
    """
    started = time.monotonic()
    key = technician_key(out)
    proc = subprocess.run(  # noqa: S603 (our own build script)
        build_command(arch, out, key),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or "").splitlines()[-30:])
        raise ImageBuildError(f"{BUILD_SCRIPT} exited {proc.returncode}:\n{tail}")
    folder = Path(proc.stdout.strip().splitlines()[-1])
    cached = "cached" in proc.stderr
    return BuiltImage(Image(folder), time.monotonic() - started, cached, key)
