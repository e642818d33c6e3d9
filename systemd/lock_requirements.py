"""The device's Python packages, pinned: systemd/requirements.lock made from setup.cfg; checked.

    python systemd/lock_requirements.py          # resolve again from PyPI, write the lock, check
    python systemd/lock_requirements.py --check  # no network: does the lock still fit setup.cfg?

install.sh installs the lock with `pip install --require-hashes --no-deps`, on Raspberry Pi OS
and in the appliance image alike. The lock holds every package the device needs besides
pygame (Debian's python3-pygame, which has SDL's KMS/DRM driver): setup.cfg's install_requires,
what they need in turn, and the build backend of pyproject.toml (the device builds its own
wheel without fetching anything unpinned). Each package is pinned to one version with the
sha256 of one wheel for amd64 and one for arm64 (or one wheel for both), for Debian bookworm's
CPython 3.11 and glibc 2.36. The file names are written above each pin, in the order of the
hashes, so a reader (and the check) can see which file is for which machine.

Exit status: 0 the lock fits, 1 it does not (each disagreement is printed) or pip failed,
2 bad arguments.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)

TREE = Path(__file__).resolve().parent.parent
LOCK = TREE / "systemd" / "requirements.lock"
SETUP_CFG = TREE / "setup.cfg"
PYPROJECT = TREE / "pyproject.toml"
INDEX_URL = "https://pypi.org/simple"

# Installed from Debian, never by pip: PyPI's pygame has no KMS/DRM driver.
FROM_DEBIAN = {canonicalize_name("pygame"): "python3-pygame"}

# Debian bookworm on the device: CPython 3.11, glibc 2.36; amd64 and arm64 (Raspberry Pi 4/5).
PYTHON_VERSION = "3.11"
ABI = "cp311"
GLIBC_MINOR = 36
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}

HEADER = """\
# The device's Python packages: one version each, and the sha256 of every file pip may install.
# install.sh runs: pip install --require-hashes --no-deps -r systemd/requirements.lock
# Made from setup.cfg (install_requires) and pyproject.toml (build-system) by `./dev lock`
# (systemd/lock_requirements.py); tests/test_requirements_lock.py fails when they disagree.
# For Debian bookworm: CPython {python}, glibc 2.{glibc}, {machines}.
# Not here: pygame, from Debian's python3-pygame (PyPI's has no KMS/DRM driver).
"""
FILE_MARK = "# file: "


class LockError(Exception):
    """The lock cannot be made or read; the message says why."""


@dataclass(frozen=True)
class Pin:
    """One locked package: its version and the files (with their sha256) pip may install."""

    name: NormalizedName
    version: str
    files: tuple[str, ...]
    hashes: tuple[str, ...]


# --- what the project declares ---------------------------------------------------------------


def declared(setup_cfg: str, pyproject: str) -> list[Requirement]:
    """install_requires of setup.cfg and the build backend's requires, without Debian's."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(setup_cfg)
    lines = parser.get("options", "install_requires", fallback="").splitlines()
    build = tomllib.loads(pyproject).get("build-system", {}).get("requires", [])
    found = []
    for line in [*lines, *build]:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise LockError(f"setup.cfg/pyproject.toml: cannot read {text!r}: {exc}") from exc
        if canonicalize_name(requirement.name) not in FROM_DEBIAN:
            found.append(requirement)
    return found


# --- the lock file ----------------------------------------------------------------------------


def parse_lock(text: str) -> dict[NormalizedName, Pin]:
    """The pins of a lock file; LockError names the line that is not a pin."""
    pins: dict[NormalizedName, Pin] = {}
    files: list[str] = []
    logical = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not logical and line.startswith(FILE_MARK):
            files.append(line.removeprefix(FILE_MARK).strip())
            continue
        if not logical and (not line or line.startswith("#")):
            continue
        logical += " " + line.removesuffix("\\")
        if line.endswith("\\"):
            continue
        pin = _pin(logical.split(), files, number)
        if pin.name in pins:
            raise LockError(f"line {number}: {pin.name} is pinned twice")
        pins[pin.name] = pin
        logical, files = "", []
    if logical:
        raise LockError("the last pin ends with a line continuation")
    return pins


def _pin(words: list[str], files: list[str], line: int) -> Pin:
    name, sep, version = words[0].partition("==")
    if not sep or not name or not version:
        raise LockError(f"line {line}: {words[0]!r} is not name==version")
    hashes = []
    for word in words[1:]:
        kind, _, digest = word.removeprefix("--hash=").partition(":")
        if not word.startswith("--hash=") or kind != "sha256" or len(digest) != 64:
            raise LockError(f"line {line}: {name}: {word!r} is not --hash=sha256:<64 hex digits>")
        hashes.append(digest)
    return Pin(canonicalize_name(name), version, tuple(files), tuple(hashes))


def render_lock(pins: Iterable[Pin]) -> str:
    machines = ", ".join(f"{arch} ({machine})" for arch, machine in MACHINES.items())
    out = [HEADER.format(python=PYTHON_VERSION, glibc=GLIBC_MINOR, machines=machines)]
    for pin in sorted(pins, key=lambda p: p.name):
        out.append("")
        out.extend(f"{FILE_MARK}{name}" for name in pin.files)
        out.append(f"{pin.name}=={pin.version} \\")
        lines = [f"    --hash=sha256:{digest}" for digest in pin.hashes]
        out.append(" \\\n".join(lines))
    return "\n".join(out) + "\n"


# --- the check ---------------------------------------------------------------------------------


def disagreements(
    requirements: Sequence[Requirement], pins: dict[NormalizedName, Pin]
) -> list[str]:
    """Everything that keeps the lock from installing what setup.cfg asks for, in words."""
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{requirement}: not in the lock (run ./dev lock)")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(
                f"{requirement}: the lock pins {pin.version}, outside the range (run ./dev lock)"
            )
    for name, label in FROM_DEBIAN.items():
        if name in pins:
            problems.append(f"{name}: must not be locked, the device uses Debian's {label}")
    for pin in pins.values():
        problems.extend(_file_problems(pin))
    return problems


def _file_problems(pin: Pin) -> list[str]:
    if not pin.hashes:
        return [f"{pin.name}=={pin.version}: no --hash (pip --require-hashes refuses it)"]
    if len(pin.files) != len(pin.hashes):
        return [
            f"{pin.name}=={pin.version}: {len(pin.files)} file names for "
            f"{len(pin.hashes)} hashes (run ./dev lock)"
        ]
    problems = []
    for arch, machine in MACHINES.items():
        if not any(_fits(name, pin, machine) for name in pin.files):
            problems.append(
                f"{pin.name}=={pin.version}: no wheel for {arch} (CPython {PYTHON_VERSION})"
            )
    return problems


def _fits(filename: str, pin: Pin, machine: str) -> bool:
    """Whether a wheel of this pin installs on the device's CPython and glibc on `machine`."""
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    if name != pin.name or str(version) != pin.version:
        return False
    return not tags.isdisjoint(_supported(machine))


def _supported(machine: str) -> set[Tag]:
    """Every wheel tag the device's CPython takes on `machine`, as pip there would."""
    version = tuple(int(part) for part in PYTHON_VERSION.split("."))
    platforms = _platforms(machine)
    return {
        *cpython_tags(version, abis=[ABI], platforms=platforms),
        *compatible_tags(version, interpreter=ABI, platforms=platforms),
    }


def _platforms(machine: str) -> list[str]:
    """The manylinux tags glibc 2.36 runs, newest first (pip's --platform does not widen them)."""
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)]
    tags.append(f"manylinux2014_{machine}")
    if machine == "x86_64":
        tags += [f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    return tags


# --- making it ------------------------------------------------------------------------------------


def download(requirements: Sequence[Requirement], machine: str, dest: Path, index_url: str) -> None:
    """pip resolves the requirements for the device's Python on `machine` and fetches the wheels."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--only-binary=:all:", "--index-url", index_url, "--dest", str(dest)]
    command += ["--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", ABI]
    for platform in _platforms(machine):
        command += ["--platform", platform]
    command += [str(r) for r in requirements]
    # Only the index given: no pip.conf, no local wheel folders (their files may differ).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    env["PIP_CONFIG_FILE"] = os.devnull
    result = subprocess.run(command, env=env, check=False, timeout=900)  # noqa: S603 (pip)
    if result.returncode != 0:
        raise LockError(f"pip download for {machine} failed (exit {result.returncode})")


def pins_from(folders: dict[str, Path]) -> list[Pin]:
    """One pin per package from the wheels fetched for each machine; they must agree."""
    versions: dict[str, dict[NormalizedName, str]] = {}
    files: dict[NormalizedName, dict[str, str]] = {}
    for arch, folder in folders.items():
        versions[arch] = {}
        for path in sorted(folder.iterdir()):
            try:
                name, parsed, _, _ = parse_wheel_filename(path.name)
            except InvalidWheelFilename as exc:
                raise LockError(f"{path.name}: pip fetched something that is not a wheel") from exc
            versions[arch][name] = str(parsed)
            files.setdefault(name, {})[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    first, *others = versions.values()
    for arch, found in zip(list(versions)[1:], others, strict=True):
        if found != first:
            differ = sorted(set(found.items()) ^ set(first.items()))
            raise LockError(f"{arch} resolves differently from amd64: {differ}")
    pins = []
    for name, version in first.items():  # the versions as pip spelled them in the file names
        names = tuple(sorted(files[name]))
        pins.append(Pin(name, version, names, tuple(files[name][f] for f in names)))
    return pins


def refresh(lock: Path, requirements: Sequence[Requirement], index_url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="haochaping-lock.") as work:
        folders = {}
        for arch, machine in MACHINES.items():
            folders[arch] = Path(work) / arch
            print(f"lock: resolving for {arch} ({machine}) from {index_url}", file=sys.stderr)
            download(requirements, machine, folders[arch], index_url)
        text = render_lock(pins_from(folders))
    new = lock.with_name(lock.name + ".new")
    new.write_text(text, encoding="utf-8")
    os.replace(new, lock)
    print(f"lock: wrote {lock}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check, fetch nothing")
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--setup-cfg", type=Path, default=SETUP_CFG)
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT)
    parser.add_argument("--index-url", default=INDEX_URL, help=f"default {INDEX_URL}")
    args = parser.parse_args(argv)
    try:
        requirements = declared(
            args.setup_cfg.read_text(encoding="utf-8"), args.pyproject.read_text(encoding="utf-8")
        )
        if not args.check:
            refresh(args.lock, requirements, args.index_url)
        if not args.lock.is_file():
            raise LockError(f"{args.lock}: no lock file (run ./dev lock)")
        problems = disagreements(requirements, parse_lock(args.lock.read_text(encoding="utf-8")))
    except (LockError, OSError) as exc:
        print(f"lock: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"lock: {problem}", file=sys.stderr)
    if problems:
        print(f"lock: {args.lock} does not fit {args.setup_cfg}", file=sys.stderr)
        return 1
    print(f"lock: {args.lock} fits {args.setup_cfg}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
