"""Rating later on a phone: the device's signed code opens the stand-in province's page in a
real headless Chromium at a phone's size; the rating is stored once, as the province's own,
and every code that is forged, expired or already used gets a page saying why.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from device.keys.signing import DeviceKey
from device.record.rate_later import rate_later_url
from tests.support.browser import CHROMIUM, Phone

pytestmark = pytest.mark.bare_province("phone-token")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")
HOUR = 3600


def template(province) -> str:
    return province.url + "/m/rate?p={projectNo}&d={deviceId}&t={issuedAt}&k={keyId}&s={signature}"


def code(province, device, project_no: str, issued_at: float | None = None, key=None) -> str:
    issued = int(time.time() if issued_at is None else issued_at)
    return rate_later_url(
        template(province), project_no, device.device_id, issued, key or device.key
    )


def stored(province, project_no: str) -> list[dict]:
    rows = province.store.query(
        "SELECT canonical FROM evaluations WHERE project_no = ?", (project_no,)
    )
    return [json.loads(row[0]) for row in rows]


def form(url: str) -> dict[str, str]:
    query = url.split("?", 1)[1]
    return dict(pair.split("=", 1) for pair in query.split("&"))


@needs_chromium
def test_a_rater_rates_a_case_later_on_a_phone(province, device, tmp_path):
    url = code(province, device, "HD2026/1121 0007")
    with Phone(tmp_path / "profile") as phone:
        phone.open(url)
        page = phone.text()
        assert "HD2026/1121 0007" in page
        for level in ("非常满意", "满意", "基本满意", "不满意", "非常不满意"):
            assert level in page
        assert phone.evaluate("document.querySelectorAll('input:checked').length") == 0
        assert not phone.visible("fieldset.tags")  # no reasons asked before a level
        assert phone.evaluate("document.querySelector('label[for=lv5]').offsetHeight") >= 48
        phone.screenshot(tmp_path / "form.png")

        phone.tap("label[for=lv2]")
        assert phone.visible("fieldset.tags")
        assert phone.evaluate("document.querySelectorAll('input:checked').length") == 1
        phone.tap("label.tag.t2")  # the first reason offered for 不满意
        chosen = phone.evaluate("document.querySelector('label.tag.t2 input').value")
        shot = phone.screenshot(tmp_path / "chosen.png")  # docs/screens/phone-rate.png
        assert shot.startswith(b"\x89PNG") and len(shot) > 20_000
        phone.tap("button[type=submit]", navigates=True)
        assert "感谢您的评价" in phone.text()
        assert "不满意" in phone.text()

        ratings = stored(province, "HD2026/1121 0007")
        assert len(ratings) == 1
        rating = ratings[0]
        assert rating["satisfaction"] == 2
        assert rating["evalDetail"] == [chosen]
        assert rating["writingEvaluation"] is None
        assert (rating["assessNumber"], rating["pf"], rating["source"]) == (1, 3, "qr")
        assert rating["madeBy"] == "province" and rating["signature"] is None
        assert rating["rateLaterCode"]["deviceId"] == device.device_id
        assert rating["windowNo"] == "12"  # the site the province enrolled the device at
        assert province.store.evaluation_count(device.device_id) == 0  # not in its chain

        phone.open(url)  # the same code again
        assert "已评价" in phone.text()
        assert "E_ALREADY_RATED" in phone.text()
    assert len(stored(province, "HD2026/1121 0007")) == 1


@needs_chromium
def test_expired_and_forged_codes_get_a_page_saying_why(province, device, tmp_path):
    old = code(province, device, "HD-OLD", time.time() - 169 * HOUR)
    ahead = code(province, device, "HD-AHEAD", time.time() + 25 * HOUR)
    stranger = code(province, device, "HD-FORGED", key=DeviceKey.generate())
    with Phone(tmp_path / "profile") as phone:
        phone.open(old)
        assert "评价已过期" in phone.text() and "E_EXPIRED" in phone.text()
        phone.open(ahead)
        assert "E_EXPIRED" in phone.text()
        phone.open(stranger)
        assert "二维码无效" in phone.text() and "E_SIGNATURE" in phone.text()
        assert phone.evaluate("document.querySelectorAll('form').length") == 0
    for url, status in ((old, 410), (ahead, 410), (stranger, 403)):
        reply = requests.get(url, timeout=10)
        assert reply.status_code == status
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert province.store.evaluation_ids() == []


def test_a_code_altered_in_any_part_is_refused(province, device):
    url = code(province, device, "HD-0001")
    fields = form(url)
    base = url.split("?", 1)[0]
    assert requests.get(url, timeout=10).status_code == 200
    for name, value in (("p", "HD-0002"), ("d", "hcp-0000000000000000"), ("t", "1"), ("s", "x")):
        altered = {**fields, name: value}
        reply = requests.get(base, params=altered, timeout=10)
        assert (reply.status_code, reply.headers["X-Error-Code"]) == (403, "E_SIGNATURE"), name
    reply = requests.get(base, params={k: v for k, v in fields.items() if k != "s"}, timeout=10)
    assert reply.status_code == 403
    posted = requests.post(base, data={**fields, "p": "HD-0002", "satisfaction": "5"}, timeout=10)
    assert posted.status_code == 403
    assert province.store.evaluation_ids() == []


def test_a_bad_rating_needs_a_reason_and_nothing_is_filled_in(province, device):
    url = code(province, device, "HD-0003")
    base, fields = url.split("?", 1)[0], form(url)
    fields = {k: requests.utils.unquote(v) for k, v in fields.items()}
    reply = requests.post(base, data={**fields, "satisfaction": "1"}, timeout=10)
    assert (reply.status_code, reply.headers["X-Error-Code"]) == (422, "E_REASON_REQUIRED")
    assert "请至少选择一个原因" in reply.text
    assert re.search(r'value="1" id="lv1" required checked', reply.text)  # the rater's choice
    assert "checked" not in reply.text.split("<fieldset")[1].split("</fieldset>")[0]  # no tag
    blank = requests.post(
        base, data={**fields, "satisfaction": "1", "writingEvaluation": "   "}, timeout=10
    )
    assert blank.status_code == 422
    not_for_level = requests.post(
        base, data={**fields, "satisfaction": "2", "evalDetail": "B10"}, timeout=10
    )
    assert (not_for_level.status_code, not_for_level.headers["X-Error-Code"]) == (422, "E_FIELD")
    unknown = requests.post(base, data={**fields, "satisfaction": "2", "evalDetail": "201"})
    assert unknown.status_code == 422
    no_level = requests.post(base, data=fields, timeout=10)
    assert no_level.status_code == 422
    assert province.store.evaluation_ids() == []

    text = requests.post(
        base,
        data={**fields, "satisfaction": "1", "writingEvaluation": "等了两个小时"},
        timeout=10,
    )
    assert text.status_code == 200 and "感谢您的评价" in text.text
    (rating,) = stored(province, "HD-0003")
    assert (rating["satisfaction"], rating["evalDetail"]) == (1, [])
    assert rating["writingEvaluation"] == "等了两个小时"
    again = requests.post(base, data={**fields, "satisfaction": "5"}, timeout=10)
    assert (again.status_code, again.headers["X-Error-Code"]) == (409, "E_ALREADY_RATED")
    assert len(stored(province, "HD-0003")) == 1


def test_a_device_rating_after_the_phone_is_already_rated(province, device):
    url = code(province, device, "HD-0004")
    base, fields = url.split("?", 1)[0], form(url)
    fields = {k: requests.utils.unquote(v) for k, v in fields.items()}
    good = {**fields, "satisfaction": "4", "evalDetail": "G01"}
    assert requests.post(base, data=good, timeout=10).status_code == 200
    record = device.record(projectNo="HD-0004", satisfaction=5)
    reply = device.send_batch([record])
    (result,) = reply.json()["results"]
    assert (result["status"], result["code"]) == ("rejected", "E_ALREADY_RATED")
    (rating,) = stored(province, "HD-0004")
    assert (rating["satisfaction"], rating["evalDetail"]) == (4, ["G01"])


def test_a_case_the_device_rated_first_cannot_be_rated_on_the_phone(province, device):
    record = device.record(projectNo="HD-0005", satisfaction=3)
    assert device.statuses([record]) == ["accepted"]
    url = code(province, device, "HD-0005")
    reply = requests.get(url, timeout=10)
    assert (reply.status_code, reply.headers["X-Error-Code"]) == (409, "E_ALREADY_RATED")
    assert "已评价" in reply.text


def test_the_officer_sees_a_phone_rating_as_a_qr_rating_with_tag_labels(province, device):
    url = code(province, device, "HD-0006")
    base, fields = url.split("?", 1)[0], form(url)
    fields = {k: requests.utils.unquote(v) for k, v in fields.items()}
    bad = {**fields, "satisfaction": "2", "evalDetail": ["B03", "B06"]}
    assert requests.post(base, data=bad, timeout=10).status_code == 200
    page = requests.get(f"{province.root_url}/", timeout=10).text
    bad_section = page.split('id="bad"')[1].split("</section>")[0]
    assert "HD-0006" in bad_section
    assert "多次跑腿（B03）" in bad_section and "排队时间长（B06）" in bad_section
    assert f"{device.device_id} <span" in bad_section and "（二维码）" in bad_section
    assert "扫码（手机）" in page.split('id="latest"')[1]
