#!/usr/bin/env bash
# Install the 好差评 evaluator and its sync daemon on Raspberry Pi OS 64-bit (Debian bookworm).
#
#   sudo systemd/install.sh                       # from the source tree this script is in
#   sudo systemd/install.sh --source haochaping-0.1.0-py3-none-any.whl --start
#   systemd/install.sh --dry-run                  # print every action, change nothing
#
# What it does: Debian packages (python3-pygame: PyPI's pygame has no KMS/DRM driver),
# a venv in /opt/haochaping/venv that sees the system pygame, the Python dependencies into it
# exactly as systemd/requirements.lock pins them (versions and sha256: pip --require-hashes),
# the package built with them, the systemd units, sysusers.d, tmpfiles.d and udev files
# under /usr/local/lib, the commands in /usr/local/bin; then it creates the user and
# directories and enables (--start: also starts) the two services. It never writes
# /etc/haochaping/device.toml: provisioning does.
#
# Options:
#   --source PATH   a wheel file or a source tree (default: the tree this script is in)
#   --root DIR      install into DIR, the root of another Debian system (an SD card image,
#                   a chroot, a test directory); steps that need the running system
#                   (udevadm, systemctl daemon-reload/start) are skipped and said so
#   --start         (re)start the services at the end (running system only)
#   --no-packages   do not install Debian packages (they are already there, or no network)
#   --python PATH   the interpreter for the venv (default /usr/bin/python3, Debian's own)
#   --dry-run       print each action as "would: ..." and change nothing
#   -h, --help      this text
#
# Exit status: 0 installed, 1 a step failed (the message says which), 2 bad arguments.
set -euo pipefail

PROG=install.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TREE=$(dirname "$HERE")
UNITS=(haochaping-evaluator.service haochaping-sync.service)
COMMANDS=(haochaping-evaluator haochaping-sync haochaping-provision)
DEBIAN_PACKAGES=(python3-pygame python3-venv fonts-wqy-microhei fonts-hanazono
    libegl1 libgles2 libgl1-mesa-dri ca-certificates)
VENV=/opt/haochaping/venv

usage() {
    sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

bad_usage() {
    echo "$PROG: $*" >&2
    echo "usage: $PROG [--source PATH] [--root DIR] [--start] [--no-packages] [--python PATH] [--dry-run]" >&2
    exit 2
}

die() {
    echo "$PROG: $*" >&2
    exit 1
}

# --- arguments -----------------------------------------------------------------------------
SOURCE=""
ROOT=/
START=0
PACKAGES=1
PYTHON=/usr/bin/python3
DRY_RUN=0

need_value() {
    if [ "$#" -lt 2 ] || [ -z "$2" ]; then bad_usage "$1 needs a value"; fi
}

while [ "$#" -gt 0 ]; do
    case "$1" in
        --source) need_value "$@"; SOURCE=$2; shift 2 ;;
        --source=*) SOURCE=${1#*=}; shift ;;
        --root) need_value "$@"; ROOT=$2; shift 2 ;;
        --root=*) ROOT=${1#*=}; shift ;;
        --python) need_value "$@"; PYTHON=$2; shift 2 ;;
        --python=*) PYTHON=${1#*=}; shift ;;
        --start) START=1; shift ;;
        --no-packages) PACKAGES=0; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) bad_usage "unknown argument: $1" ;;
    esac
done

if [ -z "$SOURCE" ]; then
    [ -f "$TREE/setup.cfg" ] || bad_usage "--source is required (no source tree around this script)"
    SOURCE=$TREE
fi
if [ -d "$SOURCE" ]; then
    [ -f "$SOURCE/setup.cfg" ] || [ -f "$SOURCE/pyproject.toml" ] ||
        bad_usage "--source $SOURCE: not a source tree (no setup.cfg or pyproject.toml)"
    SOURCE=$(cd "$SOURCE" && pwd)
elif [ -f "$SOURCE" ]; then
    case "$SOURCE" in
        *.whl) SOURCE=$(cd "$(dirname "$SOURCE")" && pwd)/$(basename "$SOURCE") ;;
        *) bad_usage "--source $SOURCE: neither a wheel (.whl) nor a source tree" ;;
    esac
else
    bad_usage "--source $SOURCE: no such file or directory"
fi
[ -d "$ROOT" ] || bad_usage "--root $ROOT: not a directory"
ROOT=$(cd "$ROOT" && pwd)
LIVE=0
[ "$ROOT" = / ] && LIVE=1
[ "$START" = 0 ] || [ "$LIVE" = 1 ] || bad_usage "--start works only on the running system, not with --root"
[ -x "$PYTHON" ] || bad_usage "--python $PYTHON: not an executable"
for f in "${UNITS[@]}" sysusers.d/haochaping.conf tmpfiles.d/haochaping.conf \
    udev/99-haochaping-keypad.rules requirements.lock; do
    [ -f "$HERE/$f" ] || die "missing $HERE/$f: run the install.sh of a complete source tree"
done
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "must run as root (sudo $0 ...), or with --dry-run to see what it would do"
fi

# A path on the target: /opt/x for the running system, DIR/opt/x with --root DIR.
at() {
    if [ "$LIVE" = 1 ]; then printf '%s\n' "$1"; else printf '%s%s\n' "$ROOT" "$1"; fi
}
ROOT_OPT=()
[ "$LIVE" = 1 ] || ROOT_OPT=("--root=$ROOT")
TARGET_VENV=$(at "$VENV")

# --- how actions are carried out ---------------------------------------------------------------
quoted() {
    local out="" arg
    for arg in "$@"; do
        if [[ "$arg" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            out+="$arg "
        else
            out+="'${arg//\'/\'\\\'\'}' "
        fi
    done
    printf '%s\n' "${out% }"
}

# act CMD...: run it (echoed with "+"), or with --dry-run print "would: CMD".
act() {
    if [ "$DRY_RUN" = 1 ]; then
        echo "would: $(quoted "$@")"
        return 0
    fi
    echo "+ $(quoted "$@")"
    local rc=0
    "$@" || rc=$?
    [ "$rc" = 0 ] || die "failed (exit $rc): $(quoted "$@")"
}

# skip REASON CMD...: a step that cannot be done here, said out loud.
skip() {
    local reason=$1
    shift
    echo "skip: $(quoted "$@") ($reason)"
}

# put MODE SRC DEST: install a file unless DEST already has the same content and mode.
put() {
    local mode=$1 src=$2 dest
    dest=$(at "$3")
    if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
        return 0
    fi
    act install -D -m "$mode" "$src" "$dest"
}

systemd_running() {
    [ "$LIVE" = 1 ] && [ -d /run/systemd/system ]
}

# --- 1. Debian packages -------------------------------------------------------------------
install_packages() {
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
    if [ "$PACKAGES" = 0 ]; then
        skip "--no-packages" apt-get install -y "${DEBIAN_PACKAGES[@]}"
    elif [ "$LIVE" = 1 ]; then
        act "${apt[@]}" update -q
        act "${apt[@]}" install -y -q --no-install-recommends "${DEBIAN_PACKAGES[@]}"
    elif [ -x "$ROOT/usr/bin/apt-get" ]; then
        act chroot "$ROOT" "${apt[@]}" update -q
        act chroot "$ROOT" "${apt[@]}" install -y -q --no-install-recommends "${DEBIAN_PACKAGES[@]}"
    else
        skip "no Debian system under $ROOT" apt-get install -y "${DEBIAN_PACKAGES[@]}"
    fi
}

# --- 2. the venv and the package -------------------------------------------------------------
# The dependencies come from the lock beside this script (systemd/requirements.lock, made from
# setup.cfg by ./dev lock): one version of each, and pip refuses any file whose sha256 is not
# there. Not in it: pygame. The venv must use Debian's python3-pygame, which has SDL's KMS/DRM
# driver; pip would fetch PyPI's pygame, which has not.
LOCK=$HERE/requirements.lock

# set_system_site true|false: whether the venv sees Debian's packages (python3-pygame).
# Off while pip runs, so every other dependency goes into the venv itself (the same on every
# device, and with --root what this machine happens to have does not count).
set_system_site() {
    local cfg="$TARGET_VENV/pyvenv.cfg"
    [ -f "$cfg" ] || [ "$1" = true ] || return 0 # a new venv starts without them
    if [ "$DRY_RUN" = 0 ] && grep -Eq "^include-system-site-packages = $1\$" "$cfg"; then
        return 0
    fi
    act sed -i "s/^include-system-site-packages = .*/include-system-site-packages = $1/" "$cfg"
}

# check_dependencies PYTHON: pip check in the venv, which does not see Debian's pygame yet; any
# other missing or mismatched package means the lock does not fit this source (./dev lock).
check_dependencies() {
    if [ "$DRY_RUN" = 1 ]; then
        echo "would: $1 -m pip check"
        return 0
    fi
    local out problems
    out=$("$1" -m pip check 2>&1) && return 0
    problems=$(grep -Ev '^haochaping [^ ]+ requires pygame, which is not installed\.$' <<<"$out" || true)
    [ -z "$problems" ] || die "the locked packages do not fit $SOURCE (refresh $LOCK with ./dev lock): $problems"
}

install_venv() {
    local py="$TARGET_VENV/bin/python" pip=(--disable-pip-version-check --no-input -q)
    if [ ! -x "$py" ] || [ ! -f "$TARGET_VENV/pyvenv.cfg" ]; then
        act "$PYTHON" -m venv --clear "$TARGET_VENV"
    fi
    set_system_site false

    # Every dependency, and the build backend, exactly as locked; nothing unpinned is fetched.
    act "$py" -m pip install "${pip[@]}" --require-hashes --no-deps -r "$LOCK"

    local wheel=$SOURCE work
    if [ "$DRY_RUN" = 1 ]; then
        work=/tmp/haochaping-build.XXXXXX
    else
        work=$(mktemp -d /tmp/haochaping-build.XXXXXX)
        CLEANUP+=("$work")
    fi
    if [ -d "$SOURCE" ]; then
        # Build from a copy: pip would otherwise leave build/ and *.egg-info in the tree.
        act tar -C "$SOURCE" --exclude=.git --exclude=.venv --exclude=build --exclude=dist \
            --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache \
            --exclude=.ruff_cache --exclude=.hypothesis --exclude=out -cf "$work/source.tar" .
        act mkdir "$work/source"
        act tar -C "$work/source" -xf "$work/source.tar"
        # with the locked setuptools and wheel just installed, not whatever the index has today
        act "$py" -m pip wheel "${pip[@]}" --no-deps --no-build-isolation \
            --wheel-dir "$work/dist" "$work/source"
        if [ "$DRY_RUN" = 1 ]; then
            wheel="$work/dist/haochaping-*.whl"
        else
            wheel=$(find "$work/dist" -name 'haochaping-*.whl' -print -quit)
            [ -n "$wheel" ] || die "pip wheel made no haochaping wheel from $SOURCE"
        fi
    fi
    act "$py" -m pip install "${pip[@]}" --no-deps --force-reinstall "$wheel"
    check_dependencies "$py"
    set_system_site true

    if [ "$LIVE" = 0 ]; then
        # Built at DIR/opt/...: scripts must name /opt/... to run once DIR is the root.
        if [ "$DRY_RUN" = 1 ]; then
            echo "would: rewrite $TARGET_VENV to $VENV in the scripts of $TARGET_VENV/bin"
        else
            local files=()
            mapfile -t files < <(grep -lIF "$TARGET_VENV" "$TARGET_VENV"/bin/* "$TARGET_VENV/pyvenv.cfg" || true)
            [ "${#files[@]}" = 0 ] || act sed -i "s#$TARGET_VENV#$VENV#g" "${files[@]}"
        fi
    fi
}

check_pygame() {
    [ "$DRY_RUN" = 0 ] || return 0
    local own
    own=$(find "$TARGET_VENV/lib" -maxdepth 3 -type d -name pygame -print -quit)
    [ -z "$own" ] || die "$own: the venv has its own pygame (PyPI's has no KMS/DRM driver); remove it: $VENV/bin/python -m pip uninstall -y pygame"
    if [ ! -f "$(at /usr/lib/python3/dist-packages/pygame/__init__.py)" ]; then
        if [ "$LIVE" = 1 ]; then
            die "Debian's python3-pygame is not installed: apt-get install python3-pygame (or run without --no-packages)"
        fi
        echo "note: no python3-pygame under $ROOT yet: the evaluator needs it there (apt-get install python3-pygame)"
    fi
}

# --- 3. systemd, sysusers, tmpfiles, udev, commands ---------------------------------------------
install_files() {
    local unit cmd
    for unit in "${UNITS[@]}"; do
        put 0644 "$HERE/$unit" "/usr/local/lib/systemd/system/$unit"
    done
    put 0644 "$HERE/sysusers.d/haochaping.conf" /usr/local/lib/sysusers.d/haochaping.conf
    put 0644 "$HERE/tmpfiles.d/haochaping.conf" /usr/local/lib/tmpfiles.d/haochaping.conf
    put 0644 "$HERE/udev/99-haochaping-keypad.rules" /usr/local/lib/udev/rules.d/99-haochaping-keypad.rules
    if [ -f "$TREE/docs/field-guide.md" ]; then
        put 0644 "$TREE/docs/field-guide.md" /opt/haochaping/docs/field-guide.md
    fi
    [ -d "$(at /usr/local/bin)" ] || act mkdir -p "$(at /usr/local/bin)"
    for cmd in "${COMMANDS[@]}"; do
        if [ "$(readlink "$(at "/usr/local/bin/$cmd")" 2>/dev/null)" != "$VENV/bin/$cmd" ]; then
            act ln -sfn "$VENV/bin/$cmd" "$(at "/usr/local/bin/$cmd")"
        fi
    done
}

set_up_system() {
    [ -d "$(at /etc)" ] || act mkdir -p "$(at /etc)"
    act systemd-sysusers "${ROOT_OPT[@]}" haochaping.conf
    act systemd-tmpfiles "${ROOT_OPT[@]}" --create haochaping.conf
    local elsewhere="$ROOT is not the running system"
    if [ "$LIVE" = 0 ]; then
        skip "$elsewhere" udevadm control --reload
    elif [ -S /run/udev/control ]; then
        act udevadm control --reload
        act udevadm trigger --subsystem-match=tty --action=add
    else
        skip "udevd is not running" udevadm control --reload
    fi
    if [ "$LIVE" = 0 ]; then
        skip "$elsewhere" systemctl daemon-reload
    elif systemd_running; then
        act systemctl daemon-reload
    else
        skip "systemd is not running" systemctl daemon-reload
    fi
    act systemctl "${ROOT_OPT[@]}" enable "${UNITS[@]}"
    if [ "$START" = 1 ]; then
        if ! systemd_running; then
            die "--start: systemd is not running here"
        elif [ ! -f /etc/haochaping/device.toml ]; then
            echo "note: not provisioned yet, so not started: run haochaping-provision init first"
        else
            act systemctl restart "${UNITS[@]}"
        fi
    fi
}

# --- main ----------------------------------------------------------------------------------------
CLEANUP=()
cleanup() {
    [ "${#CLEANUP[@]}" = 0 ] || rm -rf "${CLEANUP[@]}"
}
trap cleanup EXIT

[ "$DRY_RUN" = 1 ] && echo "dry run: nothing is changed"
echo "installing $SOURCE into ${ROOT%/}/ (venv $VENV)"
if [ -r "$(at /etc/os-release)" ] && ! grep -q '^VERSION_CODENAME=bookworm' "$(at /etc/os-release)"; then
    echo "note: made for Debian bookworm (Raspberry Pi OS 64-bit); this is $(grep -m1 '^PRETTY_NAME=' "$(at /etc/os-release)" | cut -d= -f2-)"
fi
install_packages
install_venv
check_pygame
install_files
set_up_system

if [ "$DRY_RUN" = 1 ]; then
    echo "dry run done: nothing was changed"
else
    echo "installed."
    if [ ! -f "$(at /etc/haochaping/device.toml)" ]; then
        echo "next: haochaping-provision init ... then systemctl start ${UNITS[*]} (see $(dirname "$VENV")/docs/field-guide.md)"
    elif [ "$START" = 0 ] && systemd_running; then
        echo "next: systemctl restart ${UNITS[*]}   (running services keep the old version until then)"
    fi
fi
