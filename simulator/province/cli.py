"""Command line of the stand-in province: `serve` (the default) runs it until SIGTERM;
`fault`, `stats` and `tags` talk to a running one through its admin interface.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from device.errors import HaochapingError
from simulator.province.admin_client import AdminClient
from simulator.province.faults import DOWN_MODES, KINDS
from simulator.province.receipts import ApiVersion, ProvinceKey, WrongReceipt
from simulator.province.server import ProvinceServer
from simulator.province.store import ProvinceStore
from simulator.province.tags import TagList

log = logging.getLogger("simulator.province")

DEFAULT_TOKEN_TTL = 24 * 3600
COMMANDS = ("serve", "fault", "stats", "tags")
ADMIN_TOKEN_ENV = "PROVINCE_ADMIN_TOKEN"  # noqa: S105 (the name of a variable)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.province",
        description="Stand-in provincial 好差评 system for tests, the simulator and benchmarks. "
        "Without a command it serves (`serve`).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands.add_parser("serve", help="serve until SIGTERM or SIGINT (default)"))
    fault = commands.add_parser("fault", help="switch faults of a running stand-in")
    _add_target(fault)
    actions = fault.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_fault_set(actions.add_parser("set", help="switch a fault on (replacing its setting)"))
    clear = actions.add_parser("clear", help="switch one fault off, or all of them")
    clear.add_argument("kind", nargs="?", choices=KINDS, help="the fault (default: all)")
    actions.add_parser("list", help="show the faults in force and how often each fired")
    stats = commands.add_parser("stats", help="device calls: total, per second, peak, mean")
    _add_target(stats)
    stats.add_argument("--reset", action="store_true", help="print, then start counting anew")
    tags = commands.add_parser("tags", help="show or publish the tag list of a running stand-in")
    _add_target(tags)
    tags.add_argument("--publish", type=Path, metavar="FILE", help="publish this JSON tag list")
    return parser


def _add_serve(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument(
        "--admin-token", help=f"require this X-Admin-Token on /admin (default ${ADMIN_TOKEN_ENV})"
    )
    parser.add_argument("--tags", type=Path, metavar="FILE", help="publish this tag list at start")
    parser.add_argument("--fault-seed", type=int, help="seed the fault draws (repeatable chaos)")
    parser.add_argument(
        "--api-version",
        choices=[v.value for v in ApiVersion],
        default=ApiVersion.V1_1.value,
        help="1: no province key at enrolment, no receipts (default 1.1)",
    )
    parser.add_argument(
        "--province-key",
        type=Path,
        metavar="PEM",
        help="sign receipts with this Ed25519 key (default: the one kept in --db)",
    )
    parser.add_argument(
        "--dialect",
        choices=["json", "gm-soap"],
        default="json",
        help="gm-soap: speak the 国密 interface (SOAP, token gateway, SM2/SM3/SM4) too",
    )
    parser.add_argument(
        "--gm-apps",
        type=int,
        default=0,
        metavar="N",
        help="gm-soap: issue N appKey/appSecret pairs at start and print them",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the stand-in, e.g. http://127.0.0.1:8123")
    parser.add_argument("--admin-token", help=f"X-Admin-Token (default ${ADMIN_TOKEN_ENV})")


def _add_fault_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="the fault")
    parser.add_argument("--probability", type=float, help="chance per device call, 0–1 (1)")
    parser.add_argument("--retry-after", type=int, help="Retry-After seconds (down/rate/unavail.)")
    parser.add_argument("--delay-ms", type=int, help="delay before answering (slow)")
    parser.add_argument("--mode", choices=DOWN_MODES, help="down: answer 503 or close (503)")
    parser.add_argument("--ids", help="reject: comma-separated evaluationIds")
    parser.add_argument("--fraction", type=float, help="reject: share of records, 0–1")
    parser.add_argument("--code", help="reject: the rejection code (E_FIELD)")
    parser.add_argument("--field", help="reject: the field E_FIELD names")
    parser.add_argument(
        "--receipt", choices=list(WrongReceipt), help="bad_receipt: what to send (missing)"
    )


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in (*COMMANDS, "-h", "--help"):
        args_list.insert(0, "serve")  # the original command line: flags only
    args = build_parser().parse_args(args_list)
    if args.command == "serve":
        return serve(args)
    try:
        client = AdminClient(args.url, args.admin_token or os.environ.get(ADMIN_TOKEN_ENV))
        print(json.dumps(_admin_command(client, args), ensure_ascii=False, indent=2))
    except (HaochapingError, ValueError, OSError) as error:
        print(f"province {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


def _admin_command(client: AdminClient, args: argparse.Namespace) -> Any:
    if args.command == "stats":
        return client.stats(reset=args.reset)
    if args.command == "tags":
        if args.publish is None:
            return client.tags()
        return client.publish_tags(json.loads(args.publish.read_text(encoding="utf-8")))
    if args.action == "clear":
        return client.clear_faults(args.kind)
    if args.action == "list":
        return client.faults()
    return client.set_fault(args.kind, **_fault_params(args))


def _fault_params(args: argparse.Namespace) -> dict[str, Any]:
    names = (
        "probability",
        "retry_after",
        "delay_ms",
        "mode",
        "fraction",
        "code",
        "field",
        "receipt",
    )
    params = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.ids is not None:
        params["evaluation_ids"] = [i.strip() for i in args.ids.split(",") if i.strip()]
    return params


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        key = ProvinceKey.load(args.province_key) if args.province_key else None
    except HaochapingError as error:
        print(f"province: {error}", file=sys.stderr)
        return 2
    store = ProvinceStore(args.db)
    for token in args.token:
        store.add_token(token, args.token_ttl)
    admin_token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    server = ProvinceServer(
        store,
        host=args.host,
        port=args.port,
        base_path=args.base_path,
        admin_token=admin_token,
        fault_seed=args.fault_seed,
        api_version=ApiVersion(args.api_version),
        province_key=key,
        gm=args.dialect == "gm-soap",
    )
    if args.tags is not None and not _publish_file(server, args.tags):
        store.close()
        return 2
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("province: %s received, stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.start()
    print(f"province: listening on {server.url}", flush=True)
    print(f"province: page and /admin at {server.root_url}", flush=True)
    if server.gm is not None:
        print(f"province: gm-soap gateway at {server.gm_gateway_url}", flush=True)
        print(f"province: gm-soap province SM2 key {server.gm.public_key}", flush=True)
        for _ in range(args.gm_apps):
            app_key, app_secret = server.gm.issue_app()
            print(f"province: gm-soap app {app_key} {app_secret}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
        store.close()
    return 0


def _publish_file(server: ProvinceServer, path: Path) -> bool:
    try:
        tags = TagList.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:  # TagListError and JSONDecodeError are ValueErrors
        print(f"province: cannot use tag list {path}: {error}", file=sys.stderr)
        return False
    if not server.publish_tags(tags):
        print(f"province: tag list version {tags.version} exists with other tags", file=sys.stderr)
        return False
    return True
