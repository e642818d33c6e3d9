"""A time server for the appliance in QEMU, on a private Ethernet link of its own.

The guest's user-mode network is restricted (restrict=on): it forwards TCP only, so NTP
(UDP) cannot reach the host there. Instead the guest gets a second network card whose
frames QEMU sends as UDP datagrams to 127.0.0.1 (`-netdev dgram`); this module answers them:
ARP for the server's address, and NTP (RFC 5905 server mode) with the host's clock. Nothing
else on that link gets an answer. The guest is told about it at run time (/run only):
`guest_setup_script()`.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

SERVER_IP = "192.168.77.1"
GUEST_IP = "192.168.77.2"
SERVER_MAC = bytes.fromhex("525400770001")
GUEST_MAC = "52:54:00:77:00:02"
NTP_PORT = 123
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
STRATUM = 2  # not a reference clock: the host's own clock, itself set by NTP


def _ntp_stamp(seconds: float) -> bytes:
    whole = int(seconds) + NTP_EPOCH_OFFSET
    fraction = int((seconds - int(seconds)) * 2**32) & 0xFFFFFFFF
    return struct.pack("!II", whole, fraction)


def ntp_answer(request: bytes, received: float, now: float) -> bytes | None:
    """The server's answer to a client request (mode 3), or None for anything else."""
    if len(request) < 48:
        return None
    version = (request[0] >> 3) & 0x7
    mode = request[0] & 0x7
    if mode != 3 or version not in (3, 4):
        return None
    first = (0 << 6) | (version << 3) | 4  # leap: none; mode: server
    header = struct.pack("!BBbb", first, STRATUM, request[2], -20)
    root = struct.pack("!II", 0, 0x00000042)  # delay 0, dispersion about 1 ms
    reference_id = socket.inet_aton("127.0.0.1")
    origin = request[40:48]  # the client's transmit time, echoed
    return (
        header
        + root
        + reference_id
        + _ntp_stamp(now)
        + origin
        + _ntp_stamp(received)
        + _ntp_stamp(now)
    )


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def answer_frame(frame: bytes, clock: float) -> bytes | None:
    """The Ethernet frame to send back for *frame*, or None."""
    if len(frame) < 14:
        return None
    destination, source, kind = frame[0:6], frame[6:12], frame[12:14]
    server_ip = socket.inet_aton(SERVER_IP)
    if kind == b"\x08\x06" and len(frame) >= 42:  # ARP
        arp = frame[14:42]
        operation = arp[6:8]
        sender_mac, sender_ip, target_ip = arp[8:14], arp[14:18], arp[24:28]
        if operation != b"\x00\x01" or target_ip != server_ip:
            return None
        reply = arp[0:6] + b"\x00\x02" + SERVER_MAC + server_ip + sender_mac + sender_ip
        return source + SERVER_MAC + kind + reply
    if kind != b"\x08\x00" or destination not in (SERVER_MAC, b"\xff" * 6):
        return None
    ip = frame[14:]
    header_len = (ip[0] & 0xF) * 4
    if len(ip) < header_len + 8 or ip[9] != 17 or ip[16:20] != server_ip:
        return None
    udp = ip[header_len:]
    source_port, destination_port = struct.unpack("!HH", udp[0:4])
    if destination_port != NTP_PORT:
        return None
    answer = ntp_answer(udp[8:], clock, time.time())
    if answer is None:
        return None
    udp_out = struct.pack("!HHHH", NTP_PORT, source_port, 8 + len(answer), 0) + answer
    ip_header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp_out), 0, 0x4000, 64, 17, 0, server_ip, ip[12:16]
    )
    ip_header = ip_header[:10] + struct.pack("!H", _checksum(ip_header)) + ip_header[12:]
    return source + SERVER_MAC + kind + ip_header + udp_out


class TimeServer:
    """Serves the link on 127.0.0.1: `port` is where QEMU sends the guest's frames,
    `qemu_port` where it listens for ours."""

    def __init__(self, qemu_port: int) -> None:
        self.qemu_port = qemu_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="vm-time-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def netdev_option(self) -> str:
        """QEMU's -netdev for the link (id "timelink")."""
        return (
            "dgram,id=timelink,local.type=inet,local.host=127.0.0.1,"
            f"local.port={self.qemu_port},remote.type=inet,remote.host=127.0.0.1,"
            f"remote.port={self.port}"
        )

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                frame, sender = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if sender != ("127.0.0.1", self.qemu_port):
                continue  # only QEMU speaks on this link
            reply = answer_frame(frame, time.time())
            if reply is not None:
                self.sock.sendto(reply, ("127.0.0.1", self.qemu_port))
                self.answered += 1


def guest_setup_script() -> str:
    """Run in the guest after each boot: the link's address and the time server, both in
    /run (this boot only; the image is untouched), then wait for the clock to be synced."""
    return f"""set -e
mkdir -p /run/systemd/network /run/systemd/timesyncd.conf.d
printf '[Match]\\nMACAddress={GUEST_MAC}\\n[Network]\\nAddress={GUEST_IP}/24\\n' \\
    >/run/systemd/network/10-timelink.network
printf '[Time]\\nNTP={SERVER_IP}\\n' >/run/systemd/timesyncd.conf.d/timelink.conf
networkctl reload
systemctl restart systemd-timesyncd
for _ in $(seq 120); do
    [ "$(timedatectl show -p NTPSynchronized --value)" = yes ] && exit 0
    sleep 0.5
done
timedatectl timesync-status || true
exit 1
"""
