"""Schemathesis against the served OpenAPI document, on a live local API with the dummy twin.

Positive and negative data for every operation; no 5xx, and every answer as documented.
"""

from __future__ import annotations

import json
import re

import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from device.local_api.case_intake import CASE_FIELDS, TEXT_LIMITS, TEXT_PATTERN
from device.local_api.server import openapi_document
from device.record.rating import PERSONAL_FIELDS, Case, Staff
from tests.support.local_api import TOKEN, keep_cross_field_rules

MAX_EXAMPLES = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,  # what the document forbids is refused
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    ignored_auth,
    positive_data_acceptance,  # with the cross-field rules kept (see keep_cross_field_rules)
]


# The package's document, loaded at collection (schemathesis' fixture loader does not work with
# pytest 9); the first test proves it is the one the server serves.
schema = schemathesis.openapi.from_dict(json.loads(openapi_document()))
schema.config.update(headers={"Authorization": f"Bearer {TOKEN}"})
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    deterministic=True,
)
rejection = schema.config.checks.negative_data_rejection
rejection.expected_statuses = [*rejection.expected_statuses, "411", "413"]  # too large is refused


def test_the_fuzzed_document_is_the_served_one(base_url):
    served = requests.get(f"{base_url}/openapi.json", timeout=5)
    assert served.content == openapi_document()


@schema.parametrize()
def test_every_answer_is_as_documented(case, base_url, evaluator):
    mutated = _mutated_field(case)
    negative = case.meta.generation.mode is GenerationMode.NEGATIVE
    if (
        case.operation.path == "/cases"
        and isinstance(case.body, dict)
        and (mutated or not negative)
    ):
        keep_cross_field_rules(case.body, mutated)
    response = case.call_and_validate(base_url=base_url, checks=CHECKS)
    if response.status_code == 422 and mutated:
        assert response.json()["field"].startswith(mutated)  # the bad field is the one named
    if evaluator.staff is None:
        evaluator.sign_in(Staff("0421", "王敏"))  # a signed-out window refuses every case


def _mutated_field(case) -> str | None:
    """The top-level body field a negative case breaks, when schemathesis says which."""
    if case.meta.generation.mode is not GenerationMode.NEGATIVE:
        return None
    location = getattr(case.meta.phase.data, "location", None) or ""
    found = re.search(r"/properties/([^/]+)", location)
    return found.group(1) if found else None


def test_fuzzing_never_queued_a_rating_or_a_bad_field(evaluator):
    assert evaluator.pushed, "no generated case was accepted: the fuzzing proved nothing"
    for case in evaluator.pushed:
        assert _problems(case) == [], case


def _problems(case: Case) -> list[str]:
    """What would make `case` invalid, checked apart from the parser that let it in."""
    problems = []
    texts = {
        "projectNo": case.project_no,
        "taskCode": case.task_code,
        "taskName": case.task_name,
        "proManagerNo": case.pro_manager_no,
        "proManager": case.pro_manager,
        "terminalNo": case.terminal_no,
        **case.identity,
    }
    for name, value in texts.items():
        if value is not None and not _is_text(value, TEXT_LIMITS[name]):
            problems.append(name)
    if set(case.identity) - set(PERSONAL_FIELDS):
        problems.append("identity")
    if case.pro_status not in (2, 3) or case.assess_number not in (1, 2):
        problems.append("proStatus/assessNumber")
    if case.user_prop is not None and not 1 <= case.user_prop <= 99:
        problems.append("userProp")
    if case.batch_project_nos is not None and not _good_batch(case):
        problems.append("batchProjectNos")
    if case.theme is not None and (case.batch_project_nos or not 1 <= len(case.theme.items) <= 10):
        problems.append("theme")
    if case.indicators and case.intake_only:
        problems.append("indicators")
    if (case.pro_manager_no is None) != (case.pro_manager is None):
        problems.append("staff")
    return problems


def _is_text(value: str, max_len: int) -> bool:
    return (
        isinstance(value, str) and len(value) <= max_len and bool(re.fullmatch(TEXT_PATTERN, value))
    )


def _good_batch(case: Case) -> bool:
    batch = case.batch_project_nos or ()
    return (
        2 <= len(batch) <= 100
        and len(set(batch)) == len(batch)
        and case.project_no in batch
        and all(_is_text(n, 50) for n in batch)
    )


def test_the_case_fields_are_the_documented_ones():
    assert {"satisfaction", "evalDetail", "writingEvaluation"}.isdisjoint(CASE_FIELDS)
