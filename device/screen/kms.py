"""The panel through the kernel's KMS/DRM interface directly: two "dumb" buffers (plain memory
the display controller scans out), the page copied into the one not shown, then a page flip.

No OpenGL, no Mesa and no display server: the frames pygame draws in memory go to the glass
as they are, on any KMS driver (vc4 on a Raspberry Pi, virtio-gpu or bochs in a virtual
machine, a PC's i915 or amdgpu). This process becomes the card's DRM master when it opens it
first (nothing else draws there); the kernel's text console comes back when it exits.

Opened with `KmsScanout.open(size)`; `show(frame)` puts a frame on the glass; `close()`.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import glob
import mmap
import os
import select
import struct
from dataclasses import dataclass

import pygame

from device.screen.kms_choice import (
    MODE_TYPE_PREFERRED,
    Connector,
    Encoder,
    Mode,
    NoDisplayError,
    Output,
    choose_output,
)

CARDS = "/dev/dri/card*"
MODEINFO = struct.Struct("=I5H5HII I32s")  # drm_mode_modeinfo, 68 bytes
CARD_RES = struct.Struct("=4Q8I")  # drm_mode_card_res
GET_CONNECTOR = struct.Struct("=4Q12I")  # drm_mode_get_connector
GET_ENCODER = struct.Struct("=5I")  # drm_mode_get_encoder
MODE_CRTC = struct.Struct("=QIIIIIII68s")  # drm_mode_crtc
FB_CMD = struct.Struct("=7I")  # drm_mode_fb_cmd
CREATE_DUMB = struct.Struct("=6IQ")  # drm_mode_create_dumb
MAP_DUMB = struct.Struct("=IIQ")  # drm_mode_map_dumb
PAGE_FLIP = struct.Struct("=4IQ")  # drm_mode_crtc_page_flip
EVENT_HEADER = struct.Struct("=II")  # drm_event
EVENT_FLIP_COMPLETE = 0x02
PAGE_FLIP_EVENT = 0x01
FLIP_WAIT_S = 0.25  # a flip not done by then: show the next frame anyway
# XRGB8888 in memory on a little-endian machine: B, G, R, unused
FRAME_MASKS = (0x00FF0000, 0x0000FF00, 0x000000FF, 0)


def _iowr(number: int, size: int) -> int:
    """_IOWR('d', number, size): the DRM ioctls that read and write their argument."""
    return (3 << 30) | (size << 16) | (ord("d") << 8) | number


GETRESOURCES = _iowr(0xA0, CARD_RES.size)
GETCRTC = _iowr(0xA1, MODE_CRTC.size)
SETCRTC = _iowr(0xA2, MODE_CRTC.size)
GETENCODER = _iowr(0xA6, GET_ENCODER.size)
GETCONNECTOR = _iowr(0xA7, GET_CONNECTOR.size)
ADDFB = _iowr(0xAE, FB_CMD.size)
RMFB = _iowr(0xAF, 4)
PAGEFLIP = _iowr(0xB0, PAGE_FLIP.size)
CREATEDUMB = _iowr(0xB2, CREATE_DUMB.size)
MAPDUMB = _iowr(0xB3, MAP_DUMB.size)
DESTROYDUMB = _iowr(0xB4, 4)


class KmsError(RuntimeError):
    """The panel could not be opened or driven through KMS/DRM; the text says why."""


def _ioctl(fd: int, request: int, data: bytes) -> bytes:
    buffer = bytearray(data)
    fcntl.ioctl(fd, request, buffer, True)
    return bytes(buffer)


def _ids(count: int) -> array.array[int]:
    return array.array("I", [0] * max(count, 1))


def _address(values: array.array[int]) -> int:
    return values.buffer_info()[0]


def _mode(raw: bytes) -> Mode:
    fields = MODEINFO.unpack(raw)
    width, height, refresh, kind = fields[1], fields[6], fields[11], fields[13]
    return Mode(width, height, refresh, bool(kind & MODE_TYPE_PREFERRED), raw)


def _connector(fd: int, connector_id: int) -> Connector:
    ask = GET_CONNECTOR.pack(0, 0, 0, 0, 0, 0, 0, 0, connector_id, 0, 0, 0, 0, 0, 0, 0)
    counts = GET_CONNECTOR.unpack(_ioctl(fd, GETCONNECTOR, ask))
    n_modes, n_encoders = counts[4], counts[6]
    modes = array.array("B", bytes(MODEINFO.size * max(n_modes, 1)))
    encoders = _ids(n_encoders)
    ask = GET_CONNECTOR.pack(
        _address(encoders), _address(modes), 0, 0,
        n_modes, 0, n_encoders, 0, connector_id, 0, 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    got = GET_CONNECTOR.unpack(_ioctl(fd, GETCONNECTOR, ask))
    n_modes = min(n_modes, got[4])
    raw = modes.tobytes()
    listed = tuple(_mode(raw[i * MODEINFO.size : (i + 1) * MODEINFO.size]) for i in range(n_modes))
    return Connector(
        connector_id=connector_id,
        connection=got[11],
        modes=listed,
        encoder_id=got[7],
        encoder_ids=tuple(encoders[: min(n_encoders, got[6])]),
    )


def _encoder(fd: int, encoder_id: int) -> Encoder:
    _, _, crtc_id, possible, _ = GET_ENCODER.unpack(
        _ioctl(fd, GETENCODER, GET_ENCODER.pack(encoder_id, 0, 0, 0, 0))
    )
    return Encoder(encoder_id, crtc_id, possible)


def _find_output(fd: int, size: tuple[int, int] | None) -> Output:
    counts = CARD_RES.unpack(_ioctl(fd, GETRESOURCES, bytes(CARD_RES.size)))
    n_crtcs, n_connectors, n_encoders = counts[5], counts[6], counts[7]
    crtcs, connectors, encoders = _ids(n_crtcs), _ids(n_connectors), _ids(n_encoders)
    ask = CARD_RES.pack(
        0, _address(crtcs), _address(connectors), _address(encoders),
        0, n_crtcs, n_connectors, n_encoders, 0, 0, 0, 0,
    )  # fmt: skip
    _ioctl(fd, GETRESOURCES, ask)
    found = [_connector(fd, c) for c in connectors[:n_connectors]]
    known = {e: _encoder(fd, e) for e in encoders[:n_encoders]}
    return choose_output(found, known, list(crtcs[:n_crtcs]), size)


@dataclass
class _Buffer:
    handle: int
    fb_id: int
    pitch: int
    memory: mmap.mmap


class KmsScanout:
    """One panel lit by this process: `size`, `show(frame)`, `close()`."""

    def __init__(self, fd: int, card: str, output: Output) -> None:
        self.fd = fd
        self.card = card
        self.output = output
        self.size = (output.mode.width, output.mode.height)
        self._buffers: list[_Buffer] = []
        self._front = 0
        self._flip_pending = False
        try:
            self._buffers = [self._new_buffer(), self._new_buffer()]
            self._set_crtc(self._buffers[0].fb_id)
        except OSError as error:
            self.close()
            raise KmsError(f"{card}: cannot light the display: {error}") from None

    @classmethod
    def open(cls, size: tuple[int, int] | None = None) -> KmsScanout:
        """The first card with a connected display, in its native mode (or *size*)."""
        problems: list[str] = []
        for card in sorted(glob.glob(CARDS)):
            try:
                fd = os.open(card, os.O_RDWR | os.O_CLOEXEC)
            except OSError as error:
                problems.append(f"{card}: {error.strerror}")
                continue
            try:
                output = _find_output(fd, size)
            except (OSError, NoDisplayError) as error:
                os.close(fd)
                problems.append(f"{card}: {error}")
                continue
            return cls(fd, card, output)
        if not problems:
            problems.append(f"no {CARDS} (no KMS/DRM driver loaded)")
        raise KmsError("no display to draw on: " + "; ".join(problems))

    def frame(self) -> pygame.Surface:
        """A surface of the panel's size in the buffers' pixel format, to draw a frame on."""
        return pygame.Surface(self.size, 0, 32, FRAME_MASKS)

    def show(self, frame: pygame.Surface) -> None:
        """Put *frame* (from `frame()`, or any surface of the panel's size) on the glass."""
        if frame.get_size() != self.size:
            raise KmsError(f"frame is {frame.get_size()}, the panel {self.size}")
        if frame.get_masks() != FRAME_MASKS or frame.get_bitsize() != 32:
            same = self.frame()
            same.blit(frame, (0, 0))
            frame = same
        self._wait_flip()
        back = self._buffers[1 - self._front]
        self._copy(frame, back)
        try:
            _ioctl(self.fd, PAGEFLIP, PAGE_FLIP.pack(self.output.crtc_id, back.fb_id,
                                                      PAGE_FLIP_EVENT, 0, 0))  # fmt: skip
            self._flip_pending = True
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.EBUSY, errno.ENOSYS):
                raise KmsError(f"{self.card}: page flip failed: {error}") from None
            self._set_crtc(back.fb_id)  # a driver without page flips: set the buffer outright
        self._front = 1 - self._front

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._wait_flip()
        for buffer in self._buffers:
            with contextlib.suppress(OSError, ValueError):
                buffer.memory.close()
            with contextlib.suppress(OSError):
                _ioctl(self.fd, RMFB, struct.pack("=I", buffer.fb_id))
            with contextlib.suppress(OSError):
                _ioctl(self.fd, DESTROYDUMB, struct.pack("=I", buffer.handle))
        self._buffers = []
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # -- inside --------------------------------------------------------------------------

    def _new_buffer(self) -> _Buffer:
        width, height = self.size
        made = CREATE_DUMB.unpack(
            _ioctl(self.fd, CREATEDUMB, CREATE_DUMB.pack(height, width, 32, 0, 0, 0, 0))
        )
        handle, pitch, length = made[4], made[5], made[6]
        fb = FB_CMD.unpack(
            _ioctl(self.fd, ADDFB, FB_CMD.pack(0, width, height, pitch, 32, 24, handle))
        )
        offset = MAP_DUMB.unpack(_ioctl(self.fd, MAPDUMB, MAP_DUMB.pack(handle, 0, 0)))[2]
        access = mmap.PROT_READ | mmap.PROT_WRITE
        memory = mmap.mmap(self.fd, length, mmap.MAP_SHARED, access, offset=offset)
        return _Buffer(handle, fb[0], pitch, memory)

    def _set_crtc(self, fb_id: int) -> None:
        connectors = array.array("I", [self.output.connector_id])
        ask = MODE_CRTC.pack(
            _address(connectors), 1, self.output.crtc_id, fb_id, 0, 0, 0, 1, self.output.mode.raw
        )
        _ioctl(self.fd, SETCRTC, ask)

    def _copy(self, frame: pygame.Surface, buffer: _Buffer) -> None:
        width, height = self.size
        row = width * 4
        pixels = memoryview(frame.get_buffer().raw)  # slices of it copy nothing more
        source_pitch = frame.get_pitch()
        if source_pitch == row == buffer.pitch:
            buffer.memory[: row * height] = pixels[: row * height]
            return
        for y in range(height):
            start = y * buffer.pitch
            buffer.memory[start : start + row] = pixels[y * source_pitch : y * source_pitch + row]

    def _wait_flip(self) -> None:
        """Wait for the flip asked last to be done (its event read), at most FLIP_WAIT_S."""
        if not self._flip_pending:
            return
        ready, _, _ = select.select([self.fd], [], [], FLIP_WAIT_S)
        if ready:
            data = os.read(self.fd, 4096)
            at = 0
            while at + EVENT_HEADER.size <= len(data):
                kind, length = EVENT_HEADER.unpack_from(data, at)
                if kind == EVENT_FLIP_COMPLETE:
                    self._flip_pending = False
                at += max(length, EVENT_HEADER.size)
        else:
            self._flip_pending = False  # no event: do not wait for ever on a lazy driver
