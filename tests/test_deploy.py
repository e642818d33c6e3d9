"""Deployment on a Raspberry Pi: the systemd units, the udev rule and systemd/install.sh.

Checked the way a technician meets them: systemd accepts the units and rates their
sandbox, the script says what it would do, lays out a fresh root, keeps an existing
device.toml, can be run twice, and the programs it installs start with Debian's pygame.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.support.deploy import (
    INSTALL,
    REPO,
    SYSTEMD,
    VENV,
    Installed,
    need_tool,
    run_install,
    snapshot,
)

UNITS = ("haochaping-evaluator.service", "haochaping-sync.service")
LOCK = SYSTEMD / "requirements.lock"
DEBIAN_PYGAME = Path("/usr/lib/python3/dist-packages/pygame")


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file as systemd reads it: per section, every Key=value in order (keys repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not Key=value: {raw!r}"
        sections[current].append((key.strip(), value.strip()))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}= expected once, found {found}"
    return found[0]


def verifiable_copies(dest: Path) -> list[Path]:
    """The units with ExecStart= pointing at a stub that exists here (verify checks it)."""
    stub = dest / "stub-program"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copies = []
    for name in UNITS:
        text = (SYSTEMD / name).read_text(encoding="utf-8")
        program = f"{VENV}/bin/{name.removesuffix('.service')}"
        assert program in text, f"{name}: ExecStart does not run {program}"
        copy = dest / name
        copy.write_text(text.replace(program, str(stub)), encoding="utf-8")
        copies.append(copy)
    return copies


# --- the units -----------------------------------------------------------------------------


def test_systemd_analyze_verify_accepts_both_units(tmp_path: Path) -> None:
    analyze = need_tool("systemd-analyze")
    copies = verifiable_copies(tmp_path)
    result = subprocess.run(
        [analyze, "verify", *map(str, copies)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    about_ours = [line for line in output.splitlines() if "haochaping" in line]
    assert result.returncode == 0, output
    assert about_ours == [], "systemd-analyze verify complains:\n" + "\n".join(about_ours)


@pytest.mark.parametrize("name", UNITS)
def test_systemd_rates_the_sandbox_ok(tmp_path: Path, name: str) -> None:
    """`systemd-analyze security` scores exposure 0-10; ours must stay low (OK, not MEDIUM)."""
    analyze = need_tool("systemd-analyze")
    copy = next(c for c in verifiable_copies(tmp_path) if c.name == name)
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.5, result.stdout


@pytest.mark.parametrize("name", UNITS)
def test_units_keep_their_hardening(name: str) -> None:
    unit = parse_unit(SYSTEMD / name)
    program = name.removesuffix(".service")
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "Restart": "always",
        "RestartSec": "2",
        "User": "haochaping",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/haochaping",
        "StateDirectory": "haochaping",
        "StateDirectoryMode": "0700",
        "ConfigurationDirectory": "haochaping",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "SystemCallArchitectures": "native",
        "UMask": "0077",
        "CapabilityBoundingSet": "",
        "DevicePolicy": "closed",
        "ExecStart": f"{VENV}/bin/{program} run --config /etc/haochaping/device.toml",
    }
    for key, value in expected.items():
        assert one(unit, "Service", key) == value, f"{name}: {key}="
    assert re.fullmatch(r"\d+s", one(unit, "Service", "WatchdogSec")), name
    assert re.fullmatch(r"\d+M", one(unit, "Service", "MemoryMax")), name
    assert "PYTHONUNBUFFERED=1" in values(unit, "Service", "Environment")
    assert values(unit, "Install", "WantedBy") == ["multi-user.target"]
    assert values(unit, "Unit", "ConditionPathExists") == ["/etc/haochaping/device.toml"]


@pytest.mark.parametrize("name", UNITS)
def test_units_can_read_whether_the_clock_is_synchronised(name: str) -> None:
    """ProtectClock=yes blocks adjtimex(2) even read-only: every rating would say
    clockSynced=false. The clock stays unsettable through the empty capability set."""
    unit = parse_unit(SYSTEMD / name)
    assert values(unit, "Service", "ProtectClock") in ([], ["no"])
    filters = values(unit, "Service", "SystemCallFilter")
    # glibc's adjtimex() is the clock_adjtime syscall; both must survive ~@privileged
    assert {"adjtimex", "clock_adjtime"} <= set(filters[-1].split()), filters
    assert one(unit, "Service", "CapabilityBoundingSet") == ""


def test_evaluator_reaches_screen_touch_keypad_and_sound_only() -> None:
    unit = parse_unit(SYSTEMD / "haochaping-evaluator.service")
    assert set(values(unit, "Service", "DeviceAllow")) == {
        "char-drm rw",
        "char-input r",
        "char-ttyACM rw",
        "char-ttyUSB rw",
        "char-ttyAMA rw",
        "char-alsa rw",
    }
    groups = one(unit, "Service", "SupplementaryGroups").split()
    assert sorted(groups) == ["audio", "dialout", "input", "render", "video"]
    assert "SDL_VIDEODRIVER=kmsdrm" in values(unit, "Service", "Environment")
    restrict = one(unit, "Service", "RestrictAddressFamilies").split()
    assert sorted(restrict) == ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"]
    # rating works offline: the evaluator must not wait for the network at boot
    assert "network-online.target" not in " ".join(values(unit, "Unit", "After"))


def test_sync_waits_for_the_network_and_touches_no_device() -> None:
    unit = parse_unit(SYSTEMD / "haochaping-sync.service")
    # after the evaluator too: on a fresh device it creates the ledger first
    assert values(unit, "Unit", "After") == [
        "network-online.target",
        "haochaping-evaluator.service",
    ]
    assert values(unit, "Unit", "Wants") == ["network-online.target"]
    assert values(unit, "Service", "DeviceAllow") == []
    assert one(unit, "Service", "PrivateDevices") == "yes"
    assert one(unit, "Service", "MemoryDenyWriteExecute") == "yes"
    restrict = one(unit, "Service", "RestrictAddressFamilies").split()
    assert sorted(restrict) == ["AF_INET", "AF_INET6", "AF_UNIX"]


def test_udev_rule_names_the_keypad_and_keeps_modemmanager_away() -> None:
    rules = (SYSTEMD / "udev" / "99-haochaping-keypad.rules").read_text(encoding="utf-8")
    lines = [ln for ln in rules.splitlines() if ln.strip() and not ln.startswith("#")]
    matching = [line for line in lines if "idVendor" in line]
    assert matching, "no rule matches a USB keypad"
    for line in matching:
        assert re.search(r'ATTRS\{idVendor\}=="[0-9a-f]{4}"', line), line
        assert re.search(r'ATTRS\{idProduct\}=="[0-9a-f]{4}"', line), line
        for part in (
            'SYMLINK+="haochaping-keypad"',
            'GROUP="dialout"',
            'MODE="0660"',
            'ENV{ID_MM_DEVICE_IGNORE}="1"',
        ):
            assert part in line, f"{part} missing in: {line}"


def test_udevadm_reads_the_rule_without_complaint(tmp_path: Path) -> None:
    """udevadm test on a tty device, with only our rule in place (in a private mount
    namespace): a typo in the rule file is reported as 'Invalid key' and the like."""
    udevadm = need_tool("udevadm")
    unshare = need_tool("unshare")
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace")
    device = next(
        (
            p
            for p in ("/sys/class/tty/ttyS0", "/sys/class/tty/tty0", "/sys/class/tty/console")
            if Path(p).exists()
        ),
        None,
    )
    if device is None:
        pytest.skip("no tty device in /sys to run udevadm test on")
    rules_dir = tmp_path / "rules.d"
    rules_dir.mkdir()
    shutil.copy(SYSTEMD / "udev" / "99-haochaping-keypad.rules", rules_dir)
    script = (
        f"mount --bind {rules_dir} /etc/udev/rules.d || exit 99; "
        "mount -t tmpfs none /usr/lib/udev/rules.d || exit 99; "
        f"exec {udevadm} test --action=add {device}"
    )
    result = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode == 99 or "unshare failed" in output:
        pytest.skip(f"cannot make a private mount namespace here: {output[:200]}")
    assert "99-haochaping-keypad.rules" in output, output
    # udevadm reports a bad line as "<file>:<line> Invalid key 'FOO'" and the like
    complaints = [line for line in output.splitlines() if "99-haochaping-keypad.rules:" in line]
    assert complaints == [], "\n".join(complaints)


# --- shell scripts ----------------------------------------------------------------------------


def test_shell_scripts_are_shellcheck_clean() -> None:
    shellcheck = need_tool("shellcheck")
    scripts = [INSTALL, REPO / "dev", REPO / ".ci" / "run"]
    result = subprocess.run(
        [shellcheck, *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- install.sh ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown argument: --bogus"),
        (["--root"], "--root needs a value"),
        (["--root", "/nonexistent-root"], "not a directory"),
        (["--source", "/nonexistent-source"], "no such file or directory"),
        (["--source", str(REPO / "README.md")], "neither a wheel"),
        (["--source", str(REPO / "docs")], "not a source tree"),
        (["--start", "--root", "/tmp"], "--start works only on the running system"),
    ],
)
def test_install_rejects_bad_arguments_with_exit_2(args: list[str], message: str) -> None:
    result = run_install(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "usage: install.sh" in result.stderr


def test_install_help_exits_0() -> None:
    result = run_install("--help")
    assert result.returncode == 0
    assert "--dry-run" in result.stdout
    assert "--root DIR" in result.stdout


def test_dry_run_prints_every_action_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "haochaping").mkdir(parents=True)
    (root / "etc" / "haochaping" / "device.toml").write_text("# provisioned\n")
    before = snapshot(root)
    result = run_install("--dry-run", "--root", str(root), "--source", str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(root) == before
    lines = result.stdout.splitlines()
    # nothing is carried out: every line is a plan, a skip or a remark
    assert [ln for ln in lines if ln.startswith("+ ")] == []
    would = "\n".join(ln for ln in lines if ln.startswith("would: "))
    venv = f"{root}{VENV}"
    for action in (
        f"would: /usr/bin/python3 -m venv --clear {venv}",
        f"would: {venv}/bin/python -m pip install --disable-pip-version-check --no-input -q "
        f"--require-hashes --no-deps -r {SYSTEMD}/requirements.lock",
        "--no-deps --no-build-isolation",
        f"would: {venv}/bin/python -m pip check",
        f"include-system-site-packages = true/' {venv}/pyvenv.cfg",
        f"{root}/usr/local/lib/systemd/system/haochaping-evaluator.service",
        f"{root}/usr/local/lib/systemd/system/haochaping-sync.service",
        f"{root}/usr/local/lib/sysusers.d/haochaping.conf",
        f"{root}/usr/local/lib/tmpfiles.d/haochaping.conf",
        f"{root}/usr/local/lib/udev/rules.d/99-haochaping-keypad.rules",
        f"would: systemd-sysusers --root={root} haochaping.conf",
        f"would: systemd-tmpfiles --root={root} --create haochaping.conf",
        f"would: systemctl --root={root} enable {' '.join(UNITS)}",
    ):
        assert action in would, f"{action!r} not announced:\n{result.stdout}"
    skipped = "\n".join(ln for ln in lines if ln.startswith("skip: "))
    assert "apt-get install -y python3-pygame" in skipped
    assert "udevadm control --reload" in skipped
    assert "systemctl daemon-reload" in skipped
    assert "device.toml" not in would


def test_install_lays_out_units_and_system_files(installed: Installed) -> None:
    root = installed.root
    for target, source in (
        (
            "usr/local/lib/systemd/system/haochaping-evaluator.service",
            "haochaping-evaluator.service",
        ),
        ("usr/local/lib/systemd/system/haochaping-sync.service", "haochaping-sync.service"),
        ("usr/local/lib/sysusers.d/haochaping.conf", "sysusers.d/haochaping.conf"),
        ("usr/local/lib/tmpfiles.d/haochaping.conf", "tmpfiles.d/haochaping.conf"),
        (
            "usr/local/lib/udev/rules.d/99-haochaping-keypad.rules",
            "udev/99-haochaping-keypad.rules",
        ),
    ):
        path = root / target
        assert path.read_bytes() == (SYSTEMD / source).read_bytes(), target
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, target
    wants = root / "etc/systemd/system/multi-user.target.wants"
    for name in UNITS:
        assert os.readlink(wants / name) == f"/usr/local/lib/systemd/system/{name}"
    for command in ("haochaping-evaluator", "haochaping-sync", "haochaping-provision"):
        assert os.readlink(root / "usr/local/bin" / command) == f"{VENV}/bin/{command}"


def test_install_creates_the_user_and_private_directories(installed: Installed) -> None:
    root = installed.root
    users = _colon_table(root / "etc/passwd")
    groups = _colon_table(root / "etc/group")
    uid, gid = int(users["haochaping"][1]), int(users["haochaping"][2])
    assert users["haochaping"][-1] == "/usr/sbin/nologin"
    assert {"input", "render", "haochaping"} <= set(groups)
    state = (root / "var/lib/haochaping").stat()
    assert (stat.S_IMODE(state.st_mode), state.st_uid) == (0o700, uid)
    etc = (root / "etc/haochaping").stat()
    assert (stat.S_IMODE(etc.st_mode), etc.st_uid, etc.st_gid) == (0o750, 0, gid)
    config = root / "etc/haochaping/device.toml"
    assert config.read_text().startswith("# provisioned on site\n"), "device.toml overwritten"
    st = config.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, gid)


def _colon_table(path: Path) -> dict[str, list[str]]:
    """/etc/passwd or /etc/group of the installed root: name -> the other fields."""
    rows = (line.split(":") for line in path.read_text().splitlines() if line)
    return {fields[0]: fields[1:] for fields in rows}


def test_install_builds_a_venv_that_uses_debians_pygame(installed: Installed) -> None:
    venv = installed.root / VENV.lstrip("/")
    cfg = (venv / "pyvenv.cfg").read_text()
    assert re.search(r"^include-system-site-packages = true$", cfg, re.MULTILINE)
    assert not list((venv / "lib").glob("python3*/site-packages/pygame")), (
        "PyPI's pygame (no KMS/DRM driver) was installed into the venv"
    )
    for command in ("haochaping-evaluator", "haochaping-sync", "haochaping-provision"):
        first_line = (venv / "bin" / command).read_text().splitlines()[0]
        # the scripts must run once the directory is the root of the Pi
        assert first_line == f"#!{VENV}/bin/python", first_line


def test_install_puts_exactly_the_locked_packages_in_the_venv(installed: Installed) -> None:
    """Each Python package at the lock's version, nothing the lock does not name."""
    locked = dict(re.findall(r"^([a-z0-9-]+)==(\S+) \\$", LOCK.read_text(), re.MULTILINE))
    assert len(locked) > 10
    site = installed.root / VENV.lstrip("/") / "lib"
    found = {}
    for info in site.glob("python3*/site-packages/*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        found[canonicalize_name(name)] = version
    assert found.pop("haochaping"), "the software itself is not in the venv"
    assert found == locked


def test_installed_commands_start(installed: Installed) -> None:
    """Each installed command answers --help with the venv's own Python; with Debian's
    python3-pygame present (as on the Pi) the evaluator's pygame is that one."""
    venv = installed.root / VENV.lstrip("/")
    python = str(venv / "bin" / "python")
    env = {**os.environ, "PYGAME_HIDE_SUPPORT_PROMPT": "1", "SDL_VIDEODRIVER": "dummy"}
    env.pop("PYTHONPATH", None)
    commands = ["haochaping-sync"]
    if DEBIAN_PYGAME.is_dir():
        commands += ["haochaping-evaluator", "haochaping-provision"]
    for command in commands:
        result = subprocess.run(
            [python, str(venv / "bin" / command), "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert "Usage:" in result.stdout
    if not DEBIAN_PYGAME.is_dir():
        pytest.skip("python3-pygame (Debian) not installed here: evaluator and provision unchecked")
    # what `haochaping-evaluator run` and `haochaping-sync run` load: every dependency declared
    modules = "import device.evaluator.app, sync.daemon, sync.jobs, provisioning.cli"
    result = subprocess.run(
        [python, "-c", modules],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    origin = subprocess.run(
        [python, "-c", "import importlib.util; print(importlib.util.find_spec('pygame').origin)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=env,
    ).stdout.strip()
    assert origin == str(DEBIAN_PYGAME / "__init__.py")


def test_second_install_changes_nothing_outside_the_venv(installed: Installed) -> None:
    assert installed.second.returncode == 0, installed.second.stdout + installed.second.stderr
    assert installed.after_second == installed.before_second
    out = installed.second.stdout
    assert "install -D" not in out, "unchanged files were installed again"
    assert "-m venv" not in out, "the venv was made again"
    assert "ln -sfn" not in out


def test_install_leaves_the_source_tree_clean(installed: Installed) -> None:
    """pip builds from a copy: no build/ folder appears in the tree it was given."""
    assert installed.build_dir_appeared is False
