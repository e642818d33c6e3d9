"""Run the stand-in province until SIGTERM or SIGINT.

`python -m simulator.province --db PATH --port N --token TOKEN [--token-ttl SECONDS]`
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from simulator.province.server import ProvinceServer
from simulator.province.store import ProvinceStore

log = logging.getLogger("simulator.province")

DEFAULT_TOKEN_TTL = 24 * 3600


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.province",
        description="Stand-in provincial 好差评 system for tests, the simulator and benchmarks.",
    )
    parser.add_argument("--db", type=Path, required=True, help="SQLite file (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free)")
    parser.add_argument("--base-path", default="/api/v1", help="path of the API (default /api/v1)")
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        help="an enrol token to issue; repeat for more (re-issuing extends its expiry)",
    )
    parser.add_argument(
        "--token-ttl",
        type=float,
        default=DEFAULT_TOKEN_TTL,
        help=f"seconds until the tokens expire (default {DEFAULT_TOKEN_TTL})",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    store = ProvinceStore(args.db)
    for token in args.token:
        store.add_token(token, args.token_ttl)
    server = ProvinceServer(store, host=args.host, port=args.port, base_path=args.base_path)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("province: %s received, stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.start()
    print(f"province: listening on {server.url}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
