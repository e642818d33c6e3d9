"""The device's pinned Python packages: systemd/requirements.lock against setup.cfg.

install.sh installs the lock with pip --require-hashes --no-deps, so a dependency added to
setup.cfg and not locked, or a pin outside setup.cfg's range, would reach a device as a
missing or wrong package; a lock without a wheel for arm64 would fail on the Pi. The check
(`systemd/lock_requirements.py --check`, also run by ./dev lock) says so; pip refuses a
file that is not the one the lock names; install.sh stops when the locked packages do not
fit together.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT as REPO
from tests.support.deploy import INSTALL_TIMEOUT_S, need_tool

TOOL = REPO / "systemd" / "lock_requirements.py"
LOCK = REPO / "systemd" / "requirements.lock"
SETUP_CFG = REPO / "setup.cfg"
PYPROJECT = REPO / "pyproject.toml"


def check(lock: Path = LOCK, setup_cfg: Path = SETUP_CFG) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(TOOL),
            "--check",
            "--lock",
            str(lock),
            "--setup-cfg",
            str(setup_cfg),
            "--pyproject",
            str(PYPROJECT),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def pin_block(text: str, name: str) -> str:
    """The `# file:` lines and the pin of one package, as they stand in the lock."""
    for block in text.split("\n\n"):
        if re.search(rf"^{re.escape(name)}==", block, re.MULTILINE):
            return block + "\n\n"
    raise AssertionError(f"{name} is not in the lock")


def copy_with(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_lock_fits_setup_cfg() -> None:
    result = check()
    assert result.returncode == 0, result.stderr
    assert "fits" in result.stderr


def test_the_lock_pins_every_dependency_but_debians_pygame_and_hashes_each() -> None:
    text = LOCK.read_text(encoding="utf-8")
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+) \\$", text, re.MULTILINE))
    for needed in (
        "pyserial",
        "sqlite-utils",
        "requests",
        "cryptography",
        "pynacl",
        "orjson",
        "gmalg",
        "cffi",
        "setuptools",
        "wheel",
    ):
        assert needed in pins, f"{needed} not pinned"
    assert "pygame" not in pins
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", text)) == text.count("# file: ")
    # compiled packages carry one wheel per machine: amd64 and arm64
    orjson = pin_block(text, "orjson")
    assert "x86_64" in orjson and "aarch64" in orjson


def test_a_dependency_added_to_setup_cfg_and_not_locked_fails(tmp_path: Path) -> None:
    text = SETUP_CFG.read_text(encoding="utf-8")
    added = text.replace("install_requires =\n", "install_requires =\n    qrcode>=7\n", 1)
    assert added != text
    result = check(setup_cfg=copy_with(tmp_path, "setup.cfg", added))
    assert result.returncode == 1
    assert "qrcode>=7: not in the lock" in result.stderr


def test_a_range_the_pinned_version_is_outside_of_fails(tmp_path: Path) -> None:
    text = SETUP_CFG.read_text(encoding="utf-8")
    raised = re.sub(r"^    orjson>=\S+$", "    orjson>=999", text, count=1, flags=re.MULTILINE)
    assert raised != text
    result = check(setup_cfg=copy_with(tmp_path, "setup.cfg", raised))
    assert result.returncode == 1
    assert re.search(r"orjson>=999: the lock pins \S+, outside the range", result.stderr)


def test_a_dependency_dropped_from_the_lock_fails(tmp_path: Path) -> None:
    text = LOCK.read_text(encoding="utf-8")
    lock = copy_with(tmp_path, "requirements.lock", text.replace(pin_block(text, "pynacl"), ""))
    result = check(lock=lock)
    assert result.returncode == 1
    assert "pynacl>=1.5: not in the lock" in result.stderr


def test_a_lock_without_the_arm64_wheel_fails(tmp_path: Path) -> None:
    text = LOCK.read_text(encoding="utf-8")
    block = pin_block(text, "cffi")
    names = re.findall(r"^# file: (.*)$", block, re.MULTILINE)
    hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
    amd64 = [(n, h) for n, h in zip(names, hashes, strict=True) if "aarch64" not in n]
    assert amd64 and len(amd64) < len(names)
    version = re.search(r"^cffi==(\S+)", block, re.MULTILINE)
    assert version
    only_amd64 = "".join(f"# file: {n}\n" for n, _ in amd64) + f"cffi=={version.group(1)} \\\n"
    only_amd64 += " \\\n".join(f"    --hash=sha256:{h}" for _, h in amd64) + "\n\n"
    result = check(lock=copy_with(tmp_path, "requirements.lock", text.replace(block, only_amd64)))
    assert result.returncode == 1
    assert f"cffi=={version.group(1)}: no wheel for arm64" in result.stderr
    assert "no wheel for amd64" not in result.stderr


def test_pygame_in_the_lock_fails(tmp_path: Path) -> None:
    text = LOCK.read_text(encoding="utf-8")
    pygame = "\n# file: pygame-2.6.1-cp311-cp311-manylinux_2_17_x86_64.whl\npygame==2.6.1 \\\n"
    pygame += "    --hash=sha256:" + "0" * 64 + "\n"
    result = check(lock=copy_with(tmp_path, "requirements.lock", text + pygame))
    assert result.returncode == 1
    assert "pygame: must not be locked, the device uses Debian's python3-pygame" in result.stderr


def test_an_unreadable_lock_line_is_named(tmp_path: Path) -> None:
    text = LOCK.read_text(encoding="utf-8").replace("--hash=sha256:", "--hash=md5:", 1)
    result = check(lock=copy_with(tmp_path, "requirements.lock", text))
    assert result.returncode == 1
    assert re.search(r"lock: line \d+: \S+: '--hash=md5:\w+' is not --hash=sha256", result.stderr)


# --- what install.sh's pip does with the lock ----------------------------------------------


def fake_wheel(folder: Path, name: str, version: str, tag: str) -> Path:
    """A small wheel of the given name and version, not the one the index publishes."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-{tag}.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}/__init__.py", "SWAPPED = True\n")
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        wheel.writestr(f"{info}/METADATA", metadata)
        wheel.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


def pip_install_locked(lock: Path, mirror: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """install.sh's pip install line, from a folder of wheels instead of the index."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--isolated",
            "--no-index",
            "--find-links",
            str(mirror),
            "--target",
            str(target),
            "--require-hashes",
            "--no-deps",
            "-r",
            str(lock),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("matching", [False, True])
def test_pip_refuses_a_swapped_wheel_and_takes_the_locked_one(
    tmp_path: Path, matching: bool
) -> None:
    """A mirror serving defusedxml's name and version with other content is refused, nothing
    installed; the same file, once the lock names its hash, installs (the control)."""
    block = pin_block(LOCK.read_text(encoding="utf-8"), "defusedxml")
    version = re.search(r"^defusedxml==(\S+)", block, re.MULTILINE)
    assert version
    wheel = fake_wheel(tmp_path / "mirror", "defusedxml", version.group(1), "py2.py3-none-any")
    if matching:
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        block = f"defusedxml=={version.group(1)} --hash=sha256:{digest}\n"
    lock = copy_with(tmp_path, "requirements.lock", block)
    target = tmp_path / "site"
    result = pip_install_locked(lock, tmp_path / "mirror", target)
    swapped = target / "defusedxml" / "__init__.py"
    if matching:
        assert result.returncode == 0, result.stderr
        assert swapped.read_text() == "SWAPPED = True\n"
    else:
        assert result.returncode != 0
        assert "DO NOT MATCH THE HASHES" in result.stderr
        assert not swapped.exists()


def test_install_stops_when_the_lock_misses_what_a_package_needs(tmp_path: Path) -> None:
    """A lock edited by hand without tabulate (sqlite-utils needs it): install.sh installs
    what the lock names, then pip check stops it with the missing name, exit 1."""
    if os.geteuid() != 0:
        pytest.skip("install.sh needs root (it creates a user and hands over directories)")
    need_tool("systemd-sysusers")
    scripts = tmp_path / "systemd"
    skip = shutil.ignore_patterns("image", "__pycache__")
    shutil.copytree(REPO / "systemd", scripts, ignore=skip)
    text = LOCK.read_text(encoding="utf-8")
    (scripts / "requirements.lock").write_text(text.replace(pin_block(text, "tabulate"), ""))
    root = tmp_path / "root"
    root.mkdir()
    result = subprocess.run(
        ["bash", str(scripts / "install.sh"), "--root", str(root), "--source", str(REPO)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the locked packages do not fit" in result.stderr
    assert "requires tabulate, which is not installed" in result.stderr
    assert "./dev lock" in result.stderr
    # it stopped there: no units, no commands laid out
    assert not (root / "usr/local/lib/systemd/system/haochaping-evaluator.service").exists()
