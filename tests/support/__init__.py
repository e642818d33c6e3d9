"""What the tests share, grouped by job: polling, record builders, the stand-in province, the
evaluator driver and its dummy twin, a provisioned device for sync, TLS material, the keypad's
event log, the local API beside its twin, the deployment runner, and a 国密 province
written from its interface document alone (independent_gm_province, with OpenSSL's SM2).
Fixtures stay in `tests/conftest.py`; they call into these modules."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
"""The repository's root, where `python -m …` finds the product's packages."""
