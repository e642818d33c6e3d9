"""Which of the kernel's displays to light, and in which mode: pure choices over what the
KMS/DRM driver reports (connectors, their modes and encoders), so they are tested without a
graphics card. The ioctls that ask and answer are in device/screen/kms.py."""

from __future__ import annotations

from dataclasses import dataclass

CONNECTED = 1  # drm_mode_connection: 1 connected, 2 disconnected, 3 unknown
MODE_TYPE_PREFERRED = 1 << 3


@dataclass(frozen=True)
class Mode:
    """One display mode as the driver lists it; `raw` is its drm_mode_modeinfo, passed back
    unchanged when the mode is set."""

    width: int
    height: int
    refresh_hz: int
    preferred: bool
    raw: bytes


@dataclass(frozen=True)
class Connector:
    connector_id: int
    connection: int
    modes: tuple[Mode, ...]
    encoder_id: int  # the encoder driving it now, 0 when none
    encoder_ids: tuple[int, ...]


@dataclass(frozen=True)
class Encoder:
    encoder_id: int
    crtc_id: int  # the CRTC it feeds now, 0 when none
    possible_crtcs: int  # bit i: the i-th CRTC of the card's list


@dataclass(frozen=True)
class Output:
    """What to light: this connector, in this mode, fed by this CRTC."""

    connector_id: int
    crtc_id: int
    mode: Mode


class NoDisplayError(RuntimeError):
    """No connected display, no mode that fits, or no CRTC free to drive it."""


def choose_mode(modes: tuple[Mode, ...], size: tuple[int, int] | None) -> Mode:
    """The panel's preferred (native) mode, or the first mode of *size* when one is set."""
    if not modes:
        raise NoDisplayError("the display lists no modes")
    if size is not None:
        for mode in modes:
            if (mode.width, mode.height) == size:
                return mode
        listed = ", ".join(sorted({f"{m.width}x{m.height}" for m in modes}))
        raise NoDisplayError(f"the display has no {size[0]}x{size[1]} mode (it has: {listed})")
    for mode in modes:
        if mode.preferred:
            return mode
    return modes[0]  # the driver lists the best mode first when none is marked


def choose_output(
    connectors: list[Connector],
    encoders: dict[int, Encoder],
    crtc_ids: list[int],
    size: tuple[int, int] | None,
) -> Output:
    """The first connected display with modes, its mode, and a CRTC that can drive it (the
    one already driving it when there is one)."""
    connected = [c for c in connectors if c.connection == CONNECTED and c.modes]
    if not connected:
        raise NoDisplayError(
            f"no display connected ({len(connectors)} connector(s), none connected with modes)"
        )
    connector = connected[0]
    mode = choose_mode(connector.modes, size)
    current = encoders.get(connector.encoder_id)
    if current is not None and current.crtc_id in crtc_ids:
        return Output(connector.connector_id, current.crtc_id, mode)
    for encoder_id in connector.encoder_ids:
        encoder = encoders.get(encoder_id)
        if encoder is None:
            continue
        for index, crtc_id in enumerate(crtc_ids):
            if encoder.possible_crtcs & (1 << index):
                return Output(connector.connector_id, crtc_id, mode)
    raise NoDisplayError(f"no CRTC can drive connector {connector.connector_id}")
