"""A process that records ratings as fast as it can, reporting each one once committed.

Run as `python -m tests.support.crash_writer STATE_DIR` by the crash test, which SIGKILLs it
at random moments.
"""

from __future__ import annotations

import sys
from pathlib import Path

from device.keys.identity_vault import IdentityVault
from device.keys.signing import DeviceKey
from device.ledger.store import Ledger
from tests.support.records import make_body


def main() -> None:
    state = Path(sys.argv[1])
    key = DeviceKey.load(state / "device.key")
    vault = IdentityVault.load_or_create(state / "identity.key")
    with Ledger(state / "ledger.db") as ledger:
        print("ready", flush=True)
        n = ledger.last_seq()
        while True:
            n += 1
            identity = {"userName": "赵四"} if n % 3 == 0 else None
            stored = ledger.append(make_body(n, identity=identity), key, vault)
            print(f"committed {stored.seq} {stored.evaluation_id}", flush=True)


if __name__ == "__main__":
    main()
