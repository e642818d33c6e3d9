"""What an SM2 signature costs on this machine, through the device's own SM2 module
(`device/keys/sm2.py`): sign and verify, for a small payload (a heartbeat) and for a full
call (100 evaluations, about 400 kB). `python -m bench.sm2_cost [--rounds 50]`; one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from bench.stats import machine, percentile
from device.keys import sm2

SIZES = {"heartbeat_300B": 300, "call_400kB": 400_000}


def measure(rounds: int) -> dict[str, float]:
    key = sm2.Sm2Key.generate()
    figures: dict[str, float] = {}
    for name, size in SIZES.items():
        message = os.urandom(size)
        signing, verifying = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            signature = key.sign(message)
            signing.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            ok = sm2.verify(key.public_hex, message, signature)
            verifying.append((time.perf_counter() - started) * 1000)
            if not ok:
                raise SystemExit("sm2_cost: FAILED: a signature did not verify")
        figures[f"{name}_sign_p50_ms"] = round(percentile(signing, 50), 2)
        figures[f"{name}_verify_p50_ms"] = round(percentile(verifying, 50), 2)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args(argv)
    print(
        json.dumps(
            {
                "bench": "sm2_cost",
                "library": "gmalg",
                "rounds": args.rounds,
                **measure(args.rounds),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
