"""A window evaluator's configuration for the benchmarks that run the evaluator alone: a
fresh device key, a keypad port, and a province address nothing answers at (no sync runs)."""

from __future__ import annotations

from pathlib import Path

from device.daemon.config import Config, from_dict
from device.keys.signing import DeviceKey

TOKEN = "bench-token-0123456789"


def window_config(state: Path, keypad_port: str, local_api_port: int = 0) -> Config:
    DeviceKey.generate().save(state / "device.key")
    return from_dict(
        {
            "device": {"state_dir": str(state)},
            "site": {
                "area_code": "640104",
                "dept_code": "11640100MB1234567X",
                "pf": 4,
                "window_no": "12",
            },
            "province": {
                "base_url": "http://127.0.0.1:9/api/v1",
                "device_id": "bench",
                "key_id": "k",
            },
            "local_api": {"token": TOKEN, "port": local_api_port},
            "keypad": {"port": keypad_port},
            "display": {"width": 800, "height": 480, "fullscreen": False},
        }
    )
