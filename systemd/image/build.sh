#!/usr/bin/env bash
# Build the appliance's disk image: Debian bookworm from Debian packages alone (mmdebstrap),
# the product installed by systemd/install.sh exactly as a technician runs it, a read-only
# root and a writable data partition for ledger, keys, configuration and journal.
#
#   systemd/image/build.sh [--arch amd64|arm64] [--authorized-keys FILE] [--out DIR] [--force]
#
# --authorized-keys FILE: the technicians' SSH public keys (one per line, as in
# ~/.ssh/authorized_keys) allowed to log in as `technician` (key only, with sudo). Without it
# the image has no way in at all: no console password, no key.
#
# The image is cached: DIR/<arch>-<hash of its inputs>/ holds it, and a build with the same
# inputs (this folder, install.sh, the units, the source tree, the Debian suite, the
# authorised keys) only prints
# that folder. The last line printed is always the folder.
#
# What is in the folder:
#   disk.img              raw disk: GPT, partitions labelled hcp-root (ext4, mounted
#                         read-only) and hcp-data (ext4, writable); arm64 adds hcp-boot (FAT,
#                         the Raspberry Pi firmware, kernel and cmdline.txt) in front
#   vmlinuz, initrd.img   the kernel and initramfs (amd64: QEMU boots them with -kernel and
#                         -initrd; there is no bootloader on the amd64 disk)
#   cmdline               the kernel command line the image expects
#   build.json            arch, hash, sizes, seconds taken; what went in: the Debian mirror
#                         and the date of its release file, the number and sha256 of the
#                         package lists below, the sha256 of systemd/requirements.lock
#   packages.txt          every Debian package installed, "name:arch version", sorted
#   python.txt            the venv's own Python packages, name==version, sorted (pinned by
#                         the lock; pygame is Debian's, in packages.txt)
#   (two builds are compared with: diff A/packages.txt B/packages.txt, and python.txt)
#
# Needs root (mmdebstrap builds in a directory owned by root and chroots into it), network to
# deb.debian.org and to the Python package index (install.sh fills the venv with pip, each
# package at the version and sha256 of systemd/requirements.lock). As
# root it installs what it needs with apt-get. No loop device, no mount of the image: the
# file systems are made from directories (mkfs.ext4 -d, mtools) and written into the disk.
#
# Exit status: 0 built (or cached), 1 a step failed, 2 bad arguments.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TREE=$(cd "$HERE/../.." && pwd)
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
ARCH=amd64
OUT=$TREE/out/image
FORCE=0
AUTHORIZED_KEYS=

die() { echo "image: $*" >&2; exit 1; }
bad_usage() {
    echo "image: $*" >&2
    echo "usage: $0 [--arch amd64|arm64] [--authorized-keys FILE] [--out DIR] [--force]" >&2
    exit 2
}

while [ "$#" -gt 0 ]; do
    case "$1" in
        --arch) [ "$#" -ge 2 ] || bad_usage "--arch needs a value"; ARCH=$2; shift 2 ;;
        --arch=*) ARCH=${1#*=}; shift ;;
        --out) [ "$#" -ge 2 ] || bad_usage "--out needs a value"; OUT=$2; shift 2 ;;
        --out=*) OUT=${1#*=}; shift ;;
        --force) FORCE=1; shift ;;
        --authorized-keys) [ "$#" -ge 2 ] || bad_usage "--authorized-keys needs a file"; AUTHORIZED_KEYS=$2; shift 2 ;;
        --authorized-keys=*) AUTHORIZED_KEYS=${1#*=}; shift ;;
        -h | --help) sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) bad_usage "unknown argument: $1" ;;
    esac
done
case "$ARCH" in amd64 | arm64) ;; *) bad_usage "--arch: amd64 or arm64, not $ARCH" ;; esac
[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap makes a root-owned tree and chroots into it)"

# --- technician access (ssh, key only) -----------------------------------------------------------
# Kept in one block: the keys given, the packages, and the customize hooks that make the
# `technician` account, put the keys in place and take out the host keys Debian made (each
# device makes its own on first boot: overlay/usr/local/libexec/haochaping/make-ssh-host-key).
ACCESS_PACKAGES=(openssh-server sudo curl)
ACCESS_KEYS_TEXT=
access_keys() { # check the file given with --authorized-keys; its keys on stdout
    local file=$1 line n=0 bad=0
    if [ ! -f "$file" ] || [ ! -r "$file" ]; then bad_usage "--authorized-keys: no readable file $file"; fi
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in "" | "#"*) continue ;; esac
        case "$line" in
            *PRIVATE\ KEY*) bad_usage "--authorized-keys: $file holds a PRIVATE key; give the .pub" ;;
        esac
        if ! [[ "$line" =~ ^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh.com|sk-ecdsa-sha2-nistp256@openssh.com)\ [A-Za-z0-9+/]+=*(\ .*)?$ ]]; then
            echo "image: --authorized-keys: not a public key line: ${line:0:60}" >&2
            bad=1
            continue
        fi
        n=$((n + 1))
        printf '%s\n' "$line"
    done <"$file"
    [ "$bad" = 0 ] || bad_usage "--authorized-keys: $file has lines that are not public keys"
    [ "$n" -gt 0 ] || bad_usage "--authorized-keys: $file holds no key"
}
if [ -n "$AUTHORIZED_KEYS" ]; then
    ACCESS_KEYS_TEXT=$(access_keys "$AUTHORIZED_KEYS")
else
    echo "image: no --authorized-keys: nobody will be able to log in to this image" >&2
fi
access_hooks() { # the mmdebstrap arguments of this block; the keys are in $1 (a file)
    local keys=$1
    printf '%s\0' \
        "--customize-hook=chroot \"\$1\" useradd --create-home --shell /bin/bash --groups sudo,adm,systemd-journal technician" \
        "--customize-hook=install -d -m 0755 \"\$1/etc/ssh/authorized_keys\" && install -m 0644 '$keys' \"\$1/etc/ssh/authorized_keys/technician\"" \
        "--customize-hook=chmod 0440 \"\$1/etc/sudoers.d/haochaping-technician\" && chroot \"\$1\" visudo -c -q" \
        "--customize-hook=rm -f \"\$1\"/etc/ssh/ssh_host_*" \
        "--customize-hook=chroot \"\$1\" systemctl enable ssh haochaping-ssh-host-key haochaping-machine-id" \
        "--customize-hook=chroot \"\$1\" update-initramfs -u -k all"
}

# --- tools --------------------------------------------------------------------------------------
host_packages() {
    local need=()
    command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
    command -v sfdisk >/dev/null || need+=(fdisk)
    command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
    if [ "$ARCH" = arm64 ]; then
        command -v mkfs.vfat >/dev/null || need+=(dosfstools)
        command -v mcopy >/dev/null || need+=(mtools)
        [ "$(dpkg --print-architecture)" = arm64 ] || [ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] ||
            command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static binfmt-support)
        command -v arch-test >/dev/null || need+=(arch-test)
    fi
    if [ ${#need[@]} -gt 0 ]; then
        echo "image: installing Debian packages: ${need[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    # arm64 on another machine: the chroot's programs run under qemu-user through binfmt_misc
    if [ "$ARCH" = arm64 ] && [ "$(dpkg --print-architecture)" != arm64 ]; then
        [ -e /proc/sys/fs/binfmt_misc/register ] ||
            mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
            die "cannot mount binfmt_misc: arm64 programs cannot run here"
        [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 ||
            die "cannot register qemu-aarch64 with binfmt_misc"
    fi
}

# --- the cache key: everything that goes into the image ------------------------------------------
# (but simulator/appliance/, the VM harness: it is in the wheel but runs on the host only)
SOURCE_PARTS=(device sync provisioning simulator systemd setup.cfg pyproject.toml README.md docs/field-guide.md)
inputs_hash() {
    {
        echo "$ARCH $SUITE $MIRROR"
        printf 'authorized keys:\n%s\n' "$ACCESS_KEYS_TEXT"
        # the Python packages: also under systemd/ below, named here so no change misses it
        (cd "$TREE" && sha256sum systemd/requirements.lock)
        (cd "$TREE" && find "${SOURCE_PARTS[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
            ! -path 'simulator/appliance/*' -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -c1-16
}

HASH=$(inputs_hash)
DEST=$OUT/$ARCH-$HASH
if [ "$FORCE" = 0 ] && [ -f "$DEST/build.json" ]; then
    echo "image: cached (inputs unchanged): $DEST" >&2
    echo "$DEST"
    exit 0
fi
host_packages
START=$(date +%s)

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/haochaping-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOTDIR=$WORK/root
DATADIR=$WORK/data
BOOTDIR=$WORK/boot

# --- 1. Debian, then the product by install.sh ---------------------------------------------------
PACKAGES=(systemd-sysv udev dbus systemd-timesyncd systemd-resolved iproute2 kmod
    initramfs-tools python3 python3-venv ca-certificates less)
COMPONENTS=main
if [ "$ARCH" = amd64 ]; then
    PACKAGES+=(linux-image-amd64)
else
    COMPONENTS=main,non-free-firmware # the Pi's boot firmware and its Wi-Fi firmware
    PACKAGES+=(linux-image-arm64 raspi-firmware firmware-brcm80211)
fi
# The Debian packages install.sh would install itself, taken from install.sh so the two
# lists cannot part. They are put in here, and install.sh runs with --no-packages: apt-get
# inside the chroot would fetch as the _apt user, which a build sandbox may keep offline.
eval "$(sed -n '/^DEBIAN_PACKAGES=(/,/)/p' "$TREE/systemd/install.sh")"
[ "${#DEBIAN_PACKAGES[@]}" -gt 0 ] || die "no DEBIAN_PACKAGES in systemd/install.sh"
PACKAGES+=("${DEBIAN_PACKAGES[@]}")
PACKAGES+=("${ACCESS_PACKAGES[@]}")
IFS=, ; INCLUDE="${PACKAGES[*]}"; unset IFS

# The source as install.sh would get it on a card: a plain copy of the tree, no build output.
SRC_IN_ROOT=/var/tmp/haochaping-source
COPY_SOURCE="tar -C '$TREE' --exclude=.git --exclude=.venv --exclude=out --exclude=__pycache__ \
    --exclude=.pytest_cache --exclude=.ruff_cache --exclude=.mypy_cache --exclude=.hypothesis \
    -cf - . | tar -C \"\$1$SRC_IN_ROOT\" -xf -"

# While install.sh runs in the chroot: this machine's DNS (installing systemd-resolved made
# the chroot's resolv.conf a link to a resolver that is not running there) and the CA bundle
# this machine trusts for the package index (a proxy may re-sign it); neither stays.
BUILD_CA=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
CA_IN_ROOT=/etc/ssl/certs/ca-certificates.crt

printf '%s\n' "$ACCESS_KEYS_TEXT" >"$WORK/authorized_keys"
mapfile -d '' ACCESS_HOOKS < <(access_hooks "$WORK/authorized_keys")
echo "image: mmdebstrap $SUITE $ARCH (${#PACKAGES[@]} packages and what they need)" >&2
mmdebstrap --mode=root --variant=apt --arch="$ARCH" --components="$COMPONENTS" \
    --include="$INCLUDE" \
    --customize-hook="sync-in '$HERE/overlay' /" \
    --customize-hook="mkdir -p \"\$1$SRC_IN_ROOT\" && $COPY_SOURCE" \
    --customize-hook="rm -f \"\$1/etc/resolv.conf\" && cp /etc/resolv.conf \"\$1/etc/resolv.conf\"" \
    --customize-hook="cp -a \"\$1$CA_IN_ROOT\" \"\$1$CA_IN_ROOT.image\" && cp '$BUILD_CA' \"\$1$CA_IN_ROOT\"" \
    --customize-hook="chroot \"\$1\" env -u PIP_FIND_LINKS -u PIP_CERT $SRC_IN_ROOT/systemd/install.sh --no-packages" \
    --customize-hook="mv \"\$1$CA_IN_ROOT.image\" \"\$1$CA_IN_ROOT\"" \
    --customize-hook="rm -rf \"\$1$SRC_IN_ROOT\"" \
    --customize-hook="chroot \"\$1\" systemctl enable systemd-networkd systemd-resolved systemd-timesyncd" \
    --customize-hook="ln -sfn ../run/systemd/resolve/stub-resolv.conf \"\$1/etc/resolv.conf\"" \
    --customize-hook="rm -f \"\$1/etc/machine-id\" \"\$1/var/lib/dbus/machine-id\" && : > \"\$1/etc/machine-id\"" \
    "${ACCESS_HOOKS[@]}" \
    --customize-hook="chroot \"\$1\" apt-get clean" \
    --customize-hook="chroot \"\$1\" sh -c 'unmkinitramfs /boot/initrd.img-* /var/tmp/initrd'" \
    --customize-hook="find \"\$1/var/tmp/initrd\" -path '*/scripts/init-bottom/ORDER' -exec cp {} '$WORK/init-bottom.ORDER' \\; -quit" \
    --customize-hook="rm -rf \"\$1/var/tmp/initrd\"" \
    --customize-hook="sed -n 's/^Date: //p' \"\$1\"/var/lib/apt/lists/*_InRelease | head -n1 >'$WORK/debian-release-date'" \
    --customize-hook="rm -rf \"\$1\"/var/lib/apt/lists/*" \
    "$SUITE" "$ROOTDIR" "$MIRROR" >&2

[ -x "$ROOTDIR/opt/haochaping/venv/bin/haochaping-evaluator" ] || die "install.sh left no evaluator in the image"

# --- 1b. what went in: the lists two builds are compared by ------------------------------------
write_manifest() { # DIR
    mkdir -p "$1"
    # shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
    dpkg-query --admindir="$ROOTDIR/var/lib/dpkg" -W \
        -f '${db:Status-Abbrev} ${Package}:${Architecture} ${Version}\n' |
        awk '$1 == "ii" { print $2, $3 }' | LC_ALL=C sort >"$1/packages.txt"
    find "$ROOTDIR/opt/haochaping/venv/lib" -mindepth 3 -maxdepth 3 -name '*.dist-info' -printf '%f\n' |
        sed 's/-\([^-]*\)\.dist-info$/==\1/' | LC_ALL=C sort >"$1/python.txt"
    [ -s "$1/packages.txt" ] || die "no Debian package list from $ROOTDIR/var/lib/dpkg"
    grep -q '^haochaping==' "$1/python.txt" || die "no haochaping in the venv's package list"
}
# build.json's fields for it (DIR: where write_manifest wrote)
manifest_fields() {
    local date
    date=$(cat "$WORK/debian-release-date" 2>/dev/null || true)
    printf '"debian_mirror": "%s", "debian_release_date": "%s", "debian_packages": %d, ' \
        "$MIRROR" "$date" "$(wc -l <"$1/packages.txt")"
    printf '"debian_packages_sha256": "%s", "python_packages_sha256": "%s", "pip_lock_sha256": "%s"' \
        "$(sha256_of "$1/packages.txt")" "$(sha256_of "$1/python.txt")" \
        "$(sha256_of "$TREE/systemd/requirements.lock")"
}
sha256_of() { sha256sum <"$1" | cut -d' ' -f1; }
write_manifest "$WORK/out"

# --- 2. split: what is written in operation goes to the data partition ---------------------------
# The root keeps empty mount points; the data partition gets the directories with the owners
# and modes install.sh (systemd-tmpfiles, journald) gave them.
mkdir -p "$DATADIR"/etc "$DATADIR"/lib "$ROOTDIR/data"
# logind's state (lingering users; none here) on a tmpfs: it will not start on a read-only one
mkdir -p "$ROOTDIR/var/lib/systemd/linger"
move_to_data() { # PATH-IN-ROOT NAME-IN-DATA
    local from=$ROOTDIR$1 to=$DATADIR/$2
    mkdir -p "$from" "$(dirname "$to")"
    cp -a "$from" "$to"
    find "$from" -mindepth 1 -delete
}
move_to_data /etc/haochaping etc/haochaping
move_to_data /var/lib/haochaping lib/haochaping
move_to_data /var/log/journal journal
move_to_data /var/lib/systemd/timesync timesync
chroot "$ROOTDIR" chown root:systemd-journal /var/log/journal
chown --reference="$ROOTDIR/var/log/journal" "$DATADIR/journal"
chmod 2755 "$DATADIR/journal"
chown "$(stat -c %u:%g "$ROOTDIR/var/lib/systemd/timesync")" "$DATADIR/timesync" 2>/dev/null || true

# --- 3. kernel and command line -------------------------------------------------------------------
mkdir -p "$WORK/out"
CMDLINE="root=LABEL=hcp-root ro rootwait fsck.repair=yes"
if [ "$ARCH" = amd64 ]; then
    CMDLINE="$CMDLINE console=ttyS0"
else
    CMDLINE="$CMDLINE console=tty1"
fi
cp "$(find "$ROOTDIR/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -n1)" "$WORK/out/vmlinuz"
cp "$(find "$ROOTDIR/boot" -maxdepth 1 -name 'initrd.img-*' | sort | tail -n1)" "$WORK/out/initrd.img"
echo "$CMDLINE" >"$WORK/out/cmdline"
# What the initramfs runs at its end, for a test harness that adds a step to it for one
# boot (simulator/appliance/console.py); the image itself is not changed.
cp "$WORK/init-bottom.ORDER" "$WORK/out/initrd-init-bottom.ORDER"

if [ "$ARCH" = arm64 ]; then
    # raspi-firmware filled /boot/firmware (start*.elf, DTBs, kernel, initrd, config.txt);
    # the FAT partition is made from it, with our command line.
    mv "$ROOTDIR/boot/firmware" "$BOOTDIR"
    mkdir -p "$ROOTDIR/boot/firmware"
    echo "$CMDLINE" >"$BOOTDIR/cmdline.txt"
    # the firmware partition, read-only: the kernel's hooks write it only at upgrades
    echo "LABEL=HCP-BOOT /boot/firmware vfat ro,noatime 0 2" >>"$ROOTDIR/etc/fstab"
fi

# --- 4. file systems and the disk -----------------------------------------------------------------
mib() { du -s --block-size=1M "$1" | cut -f1; }
ROOT_MB=$(($(mib "$ROOTDIR") * 5 / 4 + 128))
DATA_MB=512
BOOT_MB=256
E2OPTS=(-q -F -t ext4 -E root_owner=0:0)
mkfs.ext4 "${E2OPTS[@]}" -L hcp-root -d "$ROOTDIR" "$WORK/root.ext4" "${ROOT_MB}M" >&2
mkfs.ext4 "${E2OPTS[@]}" -L hcp-data -d "$DATADIR" "$WORK/data.ext4" "${DATA_MB}M" >&2
if [ "$ARCH" = arm64 ]; then
    truncate -s "${BOOT_MB}M" "$WORK/boot.vfat"
    mkfs.vfat -F 32 -n HCP-BOOT "$WORK/boot.vfat" >/dev/null
    MTOOLS_SKIP_CHECK=1 mcopy -s -i "$WORK/boot.vfat" "$BOOTDIR"/* ::/
fi

# Partitions start at 1 MiB boundaries; a 1 MiB gap at the end for the backup GPT.
DISK=$WORK/out/disk.img
parts=()
[ "$ARCH" = arm64 ] && parts+=("boot.vfat:${BOOT_MB}")
parts+=("root.ext4:${ROOT_MB}" "data.ext4:${DATA_MB}")
total=2
for p in "${parts[@]}"; do total=$((total + ${p#*:})); done
truncate -s "${total}M" "$DISK"
{
    echo "label: $([ "$ARCH" = arm64 ] && echo dos || echo gpt)"
    offset=1
    for p in "${parts[@]}"; do
        size=${p#*:}
        case "$p" in
            boot.*) echo "start=${offset}MiB, size=${size}MiB, type=$([ "$ARCH" = arm64 ] && echo c || echo uefi)" ;;
            *) echo "start=${offset}MiB, size=${size}MiB, type=linux" ;;
        esac
        offset=$((offset + size))
    done
} | sfdisk --quiet "$DISK" >&2
offset=1
for p in "${parts[@]}"; do
    dd if="$WORK/${p%%:*}" of="$DISK" bs=1M seek="$offset" conv=notrunc,sparse status=none
    offset=$((offset + ${p#*:}))
done

SECONDS_TAKEN=$(($(date +%s) - START))
cat >"$WORK/out/build.json" <<JSON
{"arch": "$ARCH", "suite": "$SUITE", "inputs_hash": "$HASH", "disk_mb": $total, "root_mb": $ROOT_MB, "data_mb": $DATA_MB, "build_seconds": $SECONDS_TAKEN, "cmdline": "$CMDLINE", $(manifest_fields "$WORK/out")}
JSON
mkdir -p "$OUT"
rm -rf "$DEST"
mv "$WORK/out" "$DEST"
echo "image: built in ${SECONDS_TAKEN}s: $DEST" >&2
echo "$DEST"
