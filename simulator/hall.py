"""A simulated service window: stand-in province, provisioned device, virtual keypad, and the
real evaluator and sync programs running as child processes on loopback.

The device programs get only ports, URLs and configuration; they never know they are simulated.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
from pathlib import Path
from typing import Any

from device.daemon.config import Config, DisplaySection, RateLaterSection
from device.record.rate_later import PAGE_QUERY
from provisioning.setup_device import SiteAnswers, provision
from simulator import processes
from simulator.local_client import EvaluatorClient
from simulator.province.faults import Faults
from simulator.province.server import ProvinceServer
from simulator.province.store import ProvinceStore
from simulator.virtual_keypad import VirtualKeypad

DEMO_AREA = "640104"
DEMO_DEPT = "11640100MB1234567X"
PHONE_QUERY = "/m/rate" + PAGE_QUERY


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandInProvince:
    """The stand-in provincial server in this process, on a free loopback port."""

    def __init__(self, workdir: Path, *, gm: bool = False) -> None:
        """*gm*: speak the 国密 dialect (gm-soap) too."""
        self.store = ProvinceStore(workdir / "province.db")
        self.server = ProvinceServer(self.store, host="127.0.0.1", port=0, gm=gm)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        """Stop answering (an outage); start() serves the same store again."""
        self.server.stop()

    def close(self) -> None:
        self.server.stop()
        self.store.close()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def root_url(self) -> str:
        """The officer's page (`/`) and the admin interface (`/admin/…`)."""
        return self.server.root_url

    @property
    def faults(self) -> Faults:
        """Fault switches, e.g. `province.faults.set("rate", retry_after=2)`; `.clear()`."""
        return self.server.faults

    def stats(self) -> dict[str, Any]:
        """Device calls at the province: total, per second, peak and mean."""
        return self.server.stats()

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(16)
        self.store.add_token(token, 3600)
        return token


class SimulatedWindow:
    def __init__(
        self,
        workdir: Path,
        province: StandInProvince,
        *,
        window_no: str = "1",
        headless: bool = True,
        display: DisplaySection | None = None,
    ) -> None:
        self.workdir = workdir
        self.province = province
        self.window_no = window_no
        self.headless = headless
        self.display = display or DisplaySection(
            width=800,
            height=480,
            fullscreen=False,
            snapshot_dir=str(workdir / "screens") if headless else None,
        )
        self.keypad = VirtualKeypad(link_path=workdir / "keypad")
        self.config: Config | None = None
        self._client: EvaluatorClient | None = None
        self.evaluator: subprocess.Popen[bytes] | None = None
        self.sync: subprocess.Popen[bytes] | None = None

    @property
    def client(self) -> EvaluatorClient:
        """The evaluator's local API, once `start` has run."""
        if self._client is None:
            raise RuntimeError(f"window {self.window_no} has not been started")
        return self._client

    @property
    def config_path(self) -> Path:
        return self.workdir / "device.toml"

    def provision(self) -> Config:
        self.config = provision(
            config_path=self.config_path,
            state_dir=self.workdir / "state",
            province_url=self.province.url,
            token=self.province.issue_token(),
            site=SiteAnswers(
                area_code=DEMO_AREA, dept_code=DEMO_DEPT, hall_code="H01", window_no=self.window_no
            ),
            keypad_port=str(self.keypad.port),
            local_api_port=free_port(),
            display=self.display,
            serial=f"SIM-{self.window_no}",
            rate_later=RateLaterSection(url_template=self.province.url + PHONE_QUERY),
        )
        return self.config

    def start(self, ready_timeout_s: float = 30.0) -> None:
        if self.config is None:
            self.provision()
        assert self.config is not None
        self.keypad.start()
        env = processes.device_env(self.headless)
        args = ["run", "--config", str(self.config_path)]
        self.evaluator = processes.start_module("device", args, self.workdir / "evaluator.log", env)
        self.sync = processes.start_module("sync", args, self.workdir / "sync.log", env)
        api = self.config.local_api
        self._client = EvaluatorClient(f"http://127.0.0.1:{api.port}/api/v1", api.token)
        self._client.wait_for(
            lambda s: s["keypadConnected"] is True,
            ready_timeout_s,
            "local API up and keypad connected",
            self.evaluator_gone,
        )

    def evaluator_gone(self) -> str | None:
        """Why the evaluator is not running (with the end of its log), or None if it is."""
        if self.evaluator is None or self.evaluator.poll() is None:
            return None
        log = (self.workdir / "evaluator.log").read_text(errors="replace").strip().splitlines()
        return f"evaluator exited with {self.evaluator.returncode}: {' | '.join(log[-3:])}"

    def kill(self, name: str) -> None:
        """SIGKILL the evaluator or the sync, as a power cut would."""
        process = getattr(self, name)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def restart(self, name: str) -> None:
        assert self.config is not None
        self.kill(name)
        args = ["run", "--config", str(self.config_path)]
        module = "device" if name == "evaluator" else "sync"
        setattr(
            self,
            name,
            processes.start_module(
                module, args, self.workdir / f"{name}.log", processes.device_env(self.headless)
            ),
        )

    def stop(self) -> dict[str, int]:
        codes = {}
        for name in ("evaluator", "sync"):
            process = getattr(self, name)
            if process is not None:
                codes[name] = processes.stop(process)
        if self._client is not None:
            self._client.close()
        self.keypad.stop()
        return codes


class Hall:
    """A stand-in province and N simulated windows, each in its own folder under *root*."""

    def __init__(
        self,
        root: Path,
        windows: int = 1,
        *,
        headless: bool = True,
        display: DisplaySection | None = None,
    ) -> None:
        self.root = root
        self.province = StandInProvince(root)
        self.windows = [
            SimulatedWindow(
                root / f"window-{n}",
                self.province,
                window_no=str(n),
                headless=headless,
                display=display,
            )
            for n in range(1, windows + 1)
        ]

    def __enter__(self) -> Hall:
        self.province.start()
        try:
            for window in self.windows:
                window.workdir.mkdir(parents=True, exist_ok=True)
                window.provision()
                window.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_codes = {}
        for window in self.windows:
            self.stop_codes.update({f"{k} {window.window_no}": v for k, v in window.stop().items()})
        self.province.close()
