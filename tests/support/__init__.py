"""What the tests share, grouped by job: polling, record builders, the stand-in province, the
evaluator driver and its dummy twin, a provisioned device for sync, TLS material, the keypad's
event log, the local API beside its twin, and the deployment runner. Fixtures stay in
`tests/conftest.py`; they call into these modules."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
"""The repository's root, where `python -m …` finds the product's packages."""
