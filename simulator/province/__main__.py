"""Run the stand-in province, or switch faults of a running one (see `cli.py`).

`python -m simulator.province [serve] --db PATH --port N --token TOKEN [--token-ttl SECONDS]`
`python -m simulator.province fault --url http://127.0.0.1:PORT set down` / `clear`
"""

from __future__ import annotations

from simulator.province.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
