"""Writing small secret files (keys, configuration) so a power cut leaves old or new, never half.

Temp file (`NAME.tmp`, mode 0600 unless told), every byte written, fsync, rename over the
target, fsync of the folder; folders made on the way are synced into their parents too. A
temp file left by a cut is never read (readers open only the target) and is truncated by the
next write. Also: shredding a secret in place before it is removed.
"""

from __future__ import annotations

import os
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def temp_path(path: Path) -> Path:
    """Where the next version of *path* is written before it is renamed over it."""
    return path.with_name(path.name + TEMP_SUFFIX)


def write_private(
    path: Path, data: bytes, *, mode: int | None = None, owner: tuple[int, int] | None = None
) -> None:
    """Replace *path* by *data*: after a power cut at any moment it holds the old bytes or
    the new, never a mix, and never nothing once it existed.

    *mode* and *owner* (uid, gid) are set on the temp file before the rename, so the new
    file is never seen with other ones; left out, a file that is replaced keeps its own
    (a technician's command run as root does not take a file from the service), and a new
    file gets 0600 and its writer as owner."""
    make_folder_durably(path.parent)
    mode, owner = _keep_mode_and_owner(path, mode, owner)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, mode)  # an old temp file keeps its mode through O_CREAT
        if owner is not None:
            os.fchown(fd, *owner)
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_folder(path.parent)


def _keep_mode_and_owner(
    path: Path, mode: int | None, owner: tuple[int, int] | None
) -> tuple[int, tuple[int, int] | None]:
    try:
        old = path.stat()
    except FileNotFoundError:
        return (0o600 if mode is None else mode), owner
    if owner is None and os.geteuid() == 0 and (old.st_uid, old.st_gid) != (0, 0):
        owner = (old.st_uid, old.st_gid)
    return (old.st_mode & 0o777 if mode is None else mode), owner


def write_all(fd: int, data: bytes) -> None:
    """os.write may write fewer bytes than asked (signals, some file systems): loop."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def make_folder_durably(folder: Path) -> None:
    """mkdir -p, each folder made here synced into its parent so it survives a power cut."""
    if folder.is_dir():
        return
    make_folder_durably(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:
        if not folder.is_dir():
            raise
        return
    fsync_folder(folder.parent)


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
    """Rename *source* over *target* and sync the folder: old or new after a power cut. As
    root, *source* first gets *target*'s owner, so the service can still read it."""
    if os.geteuid() == 0 and target.exists():
        old = target.stat()
        os.chown(source, old.st_uid, old.st_gid)
        fd = os.open(source, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
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
        write_all(fd, b"\0" * max(64, size))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    fsync_folder(path.parent)
    return True
