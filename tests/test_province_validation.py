"""Record validation takes no shortcut that changes its answer: whatever a field holds, the
rejection is the one the field checks give, in the interface's order."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.province.validation import (
    RECORD_FIELDS,
    _check_batch_cases,
    _check_reason,
    validate_record,
)
from tests.support.province import rating_fields

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def _record() -> dict:
    return {
        "evaluationId": str(uuid.uuid4()),
        "deviceId": "hcp-0123456789abcdef",
        "keyId": "0123456789abcdef",
        "seq": 7,
        "prevHash": "a" * 64,
        **rating_fields(),
        "signature": "c2lnbmF0dXJl",
    }


def _field_by_field(record: dict):
    for name, check in RECORD_FIELDS.items():
        rejection = check(record[name], name)
        if rejection is not None:
            return rejection
    return None


@settings(max_examples=1500)
@given(st.dictionaries(st.sampled_from(sorted(RECORD_FIELDS)), JSON_VALUES, max_size=4))
def test_every_field_is_checked_as_its_own_check_says(changes):
    record = {**_record(), **changes}
    expected = _field_by_field(record)
    if expected is None:  # the fields pass: the rules across fields decide
        expected = _check_batch_cases(record) or _check_reason(record)
    assert validate_record(record) == expected


def test_a_good_record_passes():
    assert validate_record(_record()) is None
