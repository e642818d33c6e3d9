"""Pure parsing of pushed cases and staff sign-ins: what becomes a Case, which field is named."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.local_api.case_intake import CaseError, parse_case
from device.local_api.staff_intake import MAX_PHOTO, PHOTO_MAGIC, PHOTO_PATTERN, parse_staff
from device.record.rating import Case, Theme, ThemeItem

CASE = {
    "projectNo": "HD20261121000101",
    "taskCode": "11640100MB1234567X3000111222000",
    "taskName": "居民身份证换领",
}
IDENTITY = {"userName": "李秀英", "certType": "111", "certKey": "9f86d081884c7d659a2feaa0c55ad015"}
THEME = {
    "themeNo": "ZT-0007",
    "themeName": "新生儿出生一件事",
    "items": [
        {"projectNo": "HD-A-01", "taskName": "出生医学证明"},
        {"projectNo": "HD-A-02", "taskName": "户口登记"},
    ],
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(20)
JPEG = b"\xff\xd8\xff\xe0" + bytes(20)


def _case(mode: str = "window", **change: object) -> Case:
    return parse_case({**CASE, **change}, mode)


def _error(body: object, mode: str = "window") -> CaseError:
    with pytest.raises(CaseError) as caught:
        parse_case(body, mode)
    return caught.value


def test_a_full_window_case_keeps_every_field():
    case = _case(
        proStatus=3,
        proManagerNo="0421",
        proManager="王敏",
        terminalNo="T-12",
        indicators=True,
        assessNumber=2,
        userProp=1,
        **IDENTITY,
    )
    assert case == Case(
        project_no="HD20261121000101",
        task_code="11640100MB1234567X3000111222000",
        task_name="居民身份证换领",
        pro_status=3,
        pro_manager_no="0421",
        pro_manager="王敏",
        terminal_no="T-12",
        assess_number=2,
        user_prop=1,
        identity=IDENTITY,
        indicators=True,
    )


def test_the_raters_identity_is_kept_apart_from_the_case():
    case = _case(**IDENTITY)
    assert case.identity == IDENTITY
    public = {k: v for k, v in vars(case).items() if k != "identity"}
    assert not set(IDENTITY.values()) & {str(v) for v in public.values()}


def test_defaults_and_nulls_mean_not_given():
    bare = _case()
    assert (bare.pro_status, bare.assess_number, bare.indicators) == (3, 1, False)
    assert (bare.pro_manager_no, bare.pro_manager, bare.batch_project_nos, bare.theme) == (
        None,
        None,
        None,
        None,
    )
    nulls = dict.fromkeys(
        ["proStatus", "assessNumber", "indicators", "proManagerNo", "proManager", "theme"]
    )
    assert _case(**nulls, userName=None) == bare


def test_intake_only_rates_the_service_alone():
    assert _case(proStatus=2).intake_only
    error = _error({**CASE, "proStatus": 2, "indicators": True})
    assert error.field == "indicators"


def test_a_batch_is_one_rating_for_every_case_in_it():
    numbers = [CASE["projectNo"], "HD20261121000102", "HD20261121000103"]
    assert _case(batchProjectNos=numbers).batch_project_nos == tuple(numbers)


def test_a_theme_links_its_items():
    case = _case(theme=THEME)
    assert case.theme == Theme(
        theme_no="ZT-0007",
        theme_name="新生儿出生一件事",
        items=(ThemeItem("HD-A-01", "出生医学证明"), ThemeItem("HD-A-02", "户口登记")),
    )


def test_self_service_rates_without_staff():
    case = _case("self_service", terminalNo="ZZ-03")
    assert (case.pro_manager_no, case.terminal_no) == (None, "ZZ-03")
    for field in ("proManagerNo", "proManager"):
        error = _error({**CASE, field: "0421"}, "self_service")
        assert error.field == field
        assert "self-service" in error.message


def test_an_unknown_mode_is_a_programming_error():
    with pytest.raises(ValueError, match="mode"):
        parse_case(CASE, "kiosk")


@pytest.mark.parametrize(
    "field", ["satisfaction", "evalDetail", "writingEvaluation", "assessTime", "apprate"]
)
def test_a_case_never_carries_a_rating(field):
    error = _error({**CASE, field: 5})
    assert error.field == field
    assert "rating" in error.message


def test_a_rating_hidden_in_a_theme_item_is_named_too():
    items = [{**THEME["items"][0], "satisfaction": 5}]
    error = _error({**CASE, "theme": {**THEME, "items": items}})
    assert error.field == "theme.items[0].satisfaction"


TOO_MANY = [f"N{i}" for i in range(100)] + [CASE["projectNo"]]
ITEM = THEME["items"][0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"projectNo": None}, "projectNo"),
        ({"projectNo": "x" * 51}, "projectNo"),
        ({"projectNo": 101}, "projectNo"),
        ({"taskCode": "   "}, "taskCode"),
        ({"taskName": ""}, "taskName"),
        ({"taskName": "居民\n身份证"}, "taskName"),
        ({"taskName": "居民\u2028身份证"}, "taskName"),
        ({"taskName": "居民\x85身份证"}, "taskName"),
        ({"taskName": "\ud800"}, "taskName"),
        ({"proStatus": 7}, "proStatus"),
        ({"proStatus": True}, "proStatus"),
        ({"proStatus": 3.0}, "proStatus"),
        ({"proStatus": "3"}, "proStatus"),
        ({"assessNumber": 3}, "assessNumber"),
        ({"userProp": 0}, "userProp"),
        ({"userProp": True}, "userProp"),
        ({"indicators": "yes"}, "indicators"),
        ({"indicators": {"business": 5}}, "indicators"),
        ({"proManager": "王敏"}, "proManagerNo"),
        ({"proManagerNo": "0421"}, "proManager"),
        ({"proManagerNo": "0" * 33, "proManager": "王敏"}, "proManagerNo"),
        ({"terminalNo": ["T"]}, "terminalNo"),
        ({"userName": "李\t秀英"}, "userName"),
        ({"certKey": "k" * 129}, "certKey"),
        ({"certType": 111}, "certType"),
        ({"batchProjectNos": [CASE["projectNo"]]}, "batchProjectNos"),
        ({"batchProjectNos": ["OTHER1", "OTHER2"]}, "batchProjectNos"),
        ({"batchProjectNos": TOO_MANY}, "batchProjectNos"),
        ({"batchProjectNos": "HD1,HD2"}, "batchProjectNos"),
        ({"batchProjectNos": [CASE["projectNo"], "A", "A"]}, "batchProjectNos[2]"),
        ({"batchProjectNos": [CASE["projectNo"], 7]}, "batchProjectNos[1]"),
        ({"batchProjectNos": [CASE["projectNo"], "A"], "theme": THEME}, "theme"),
        ({"theme": "ZT-0007"}, "theme"),
        ({"theme": {**THEME, "themeNo": None}}, "theme.themeNo"),
        ({"theme": {**THEME, "themeName": "x" * 201}}, "theme.themeName"),
        ({"theme": {**THEME, "items": []}}, "theme.items"),
        ({"theme": {**THEME, "items": [ITEM] * 11}}, "theme.items"),
        ({"theme": {**THEME, "items": [ITEM, ITEM]}}, "theme.items[1].projectNo"),
        ({"theme": {**THEME, "items": [ITEM, "x"]}}, "theme.items[1]"),
        ({"theme": {**THEME, "items": [{"projectNo": "A"}]}}, "theme.items[0].taskName"),
        ({"theme": {**THEME, "color": "red"}}, "theme.color"),
        ({"applicant": "someone"}, "applicant"),
    ],
)
def test_every_bad_field_is_named(change, field):
    body = {k: v for k, v in {**CASE, **change}.items() if v is not None}
    assert _error(body).field == field


@pytest.mark.parametrize("raw_id", ["11010519491231002X", "110105194912310021", "110105491231002"])
def test_a_raw_id_number_in_certkey_is_refused(raw_id):
    error = _error({**CASE, "certKey": raw_id})
    assert error.field == "certKey"
    assert "hash" in error.message and raw_id not in error.message


def test_a_hash_in_certkey_is_kept():
    digest = "5e884898da28047151d0e56f8dc62927"
    assert parse_case({**CASE, "certKey": digest}, "window").identity["certKey"] == digest


@pytest.mark.parametrize("body", [[CASE], "case", None, 3])
def test_a_case_is_a_json_object(body):
    assert _error(body).field == "$"


def test_error_messages_never_repeat_personal_data():
    for change in ({"userName": "李秀英" * 100}, {"certKey": "SECRET\n"}, {"userName": 5}):
        error = _error({**CASE, **change})
        assert "李秀英" not in str(error)
        assert "SECRET" not in str(error)


# -- staff sign-in --------------------------------------------------------------------------


def _photo(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_staff_member_signs_in_with_or_without_a_photo():
    bare = parse_staff({"proManagerNo": "0421", "proManager": "王敏"})
    assert (bare.number, bare.name, bare.photo) == ("0421", "王敏", None)
    for image in (PNG, JPEG):
        staff = parse_staff({"proManagerNo": "0421", "proManager": "王敏", "photo": _photo(image)})
        assert staff.photo == image


def test_a_photo_of_exactly_256_kib_is_taken():
    image = PNG + bytes(MAX_PHOTO - len(PNG))
    staff = parse_staff({"proManagerNo": "0421", "proManager": "王敏", "photo": _photo(image)})
    assert staff.photo == image


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"proManagerNo": None}, "proManagerNo"),
        ({"proManagerNo": "0" * 33}, "proManagerNo"),
        ({"proManager": "x" * 65}, "proManager"),
        ({"proManager": ""}, "proManager"),
        ({"photo": _photo(b"GIF89a" + bytes(20))}, "photo"),
        ({"photo": "data:image/png;base64," + _photo(PNG)}, "photo"),
        ({"photo": _photo(PNG)[:-2]}, "photo"),
        ({"photo": _photo(PNG)[:8] + "\n" + _photo(PNG)[8:]}, "photo"),
        ({"photo": _photo(PNG + bytes(MAX_PHOTO))}, "photo"),
        ({"photo": ""}, "photo"),
        ({"photo": 7}, "photo"),
        ({"windowNo": "12"}, "windowNo"),
    ],
)
def test_bad_sign_in_fields_are_named(change, field):
    body = {k: v for k, v in {"proManagerNo": "0421", "proManager": "王敏", **change}.items()}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(CaseError) as caught:
        parse_staff(body)
    assert caught.value.field == field


@given(st.sampled_from(PHOTO_MAGIC), st.binary(min_size=1, max_size=64))
def test_the_documented_photo_pattern_takes_every_png_and_jpeg(magic, rest):
    assert re.fullmatch(PHOTO_PATTERN, _photo(magic + rest))


@given(st.binary(min_size=1, max_size=64))
def test_the_documented_photo_pattern_refuses_other_files(data):
    if not data.startswith(PHOTO_MAGIC):
        assert not re.fullmatch(PHOTO_PATTERN, _photo(data))
