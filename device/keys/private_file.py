"""Writing small secret files (keys, configuration) so a power cut leaves old or new, never half.

Temp file with mode 0600, fsync, rename over the target, fsync of the folder; and shredding
a secret in place before it is removed.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_folder(path.parent)


class ReadableByOthersError(OSError):
    """A secret file that its group or others may read."""


def read_secret(path: Path) -> bytes:
    """A secret file's bytes, refused (ReadableByOthersError naming the fix) when its group
    or others may read it; OSError as usual when it cannot be read."""
    mode = path.stat().st_mode & 0o777
    data = path.read_bytes()
    if mode & 0o077:
        raise ReadableByOthersError(
            f"{path} has mode {mode:o}; it must be readable by its owner only (chmod 600 {path})"
        )
    return data


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in *folder* survive a power cut."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def replace_durably(source: Path, target: Path) -> None:
    """Rename *source* over *target* and sync the folder: old or new after a power cut."""
    os.replace(source, target)
    fsync_folder(target.parent)


def shred(path: Path) -> bool:
    """Overwrite a secret file's own blocks with zeros (in place, not via a new file), sync,
    remove it and sync the folder. False if it was not there."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        os.write(fd, b"\0" * max(64, size))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    fsync_folder(path.parent)
    return True
