"""Rating later on a phone (spec v1.1): `GET {base}/m/rate?p&d&t&k&s` checks the device's
rate-later code and shows the form; `POST` checks it again and stores the rating as one the
province made itself (assessNumber 1, pf 3, source `qr`), then thanks the rater.

Refusals, each a page in Chinese with its status: 403 E_SIGNATURE (not signed by a key of that
device), 410 E_EXPIRED (more than 168 h old, or more than 24 h ahead, by the province's
clock), 409 E_ALREADY_RATED; a form without what it needs comes back with 422 and the
rater's own choices kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from device.errors import HaochapingError
from device.record.rate_later import signed_message
from simulator.province import phone_page
from simulator.province.devices import beijing_time
from simulator.province.http_server import HTML_TYPE, Reply
from simulator.province.phone_page import MAX_TEXT, REASON_LEVELS, CaseShown, FormState
from simulator.province.ratings import ProvinceRating
from simulator.province.speed.ed25519 import verify
from simulator.province.store import ProvinceStore
from simulator.province.tags import TagList

PHONE_PATH = "/m/rate"
RATING_WINDOW_SECONDS = 168 * 3600
FUTURE_SECONDS = 24 * 3600
FIRST_RATING = 1
LEVEL_VALUES = ("1", "2", "3", "4", "5")
QR_CHANNEL = 3  # pf: QR code
MAX_PROJECT_NO = 50
SIGNATURE = re.compile(r"[A-Za-z0-9_-]{86}")  # 64 bytes, base64url without padding
ISSUED_AT = re.compile(r"[0-9]{1,12}")
KEY_ID = re.compile(r"[0-9a-f]{16}")
MAX_FIELDS = 200
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


class CodeRefusedError(HaochapingError):
    """Why a code or a form is not taken: status, code, and what the rater reads."""

    def __init__(self, status: int, code: str, title: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.status = status
        self.code = code
        self.title = title
        self.why = why


def invalid_code(why: str = "无法确认此二维码由政务服务评价设备签发。") -> CodeRefusedError:
    return CodeRefusedError(
        403, "E_SIGNATURE", "二维码无效", why + "请向窗口工作人员索取新的二维码。"
    )


@dataclass(frozen=True)
class RateLaterCode:
    """The fields of a device's code: case, device, issue time, key, signature."""

    project_no: str
    device_id: str
    issued_at: int
    key_id: str
    signature: str

    @classmethod
    def read(cls, fields: Mapping[str, list[str]]) -> RateLaterCode:
        """The code's five fields, each exactly once and well formed, or 403 E_SIGNATURE."""
        values = {}
        for name in phone_page.CODE_FIELDS:
            got = fields.get(name, [])
            if len(got) != 1 or not got[0]:
                raise invalid_code("二维码内容不完整。")
            values[name] = got[0]
        if len(values["p"]) > MAX_PROJECT_NO or not ISSUED_AT.fullmatch(values["t"]):
            raise invalid_code()
        if not (KEY_ID.fullmatch(values["k"]) and SIGNATURE.fullmatch(values["s"])):
            raise invalid_code()
        return cls(values["p"], values["d"], int(values["t"]), values["k"], values["s"])

    def as_fields(self) -> dict[str, str]:
        return {
            "p": self.project_no,
            "d": self.device_id,
            "t": str(self.issued_at),
            "k": self.key_id,
            "s": self.signature,
        }


class ProvinceSide(Protocol):
    """What the page needs of the stand-in: its store, its clock, the current tag list."""

    store: ProvinceStore
    clock: Callable[[], float]

    @property
    def tags(self) -> TagList: ...


class PhoneRating:
    """The two requests of the phone page; bad input never raises out of `answer`."""

    def __init__(self, province: ProvinceSide) -> None:
        self.province = province

    def answer(self, method: str, target: str, body: bytes) -> Reply:
        try:
            if method == "GET":
                return self._form(target)
            if method == "POST":
                return self._submit(body)
            refused = CodeRefusedError(
                405, "E_METHOD", "无法打开", "请用手机扫描二维码打开评价页面。"
            )
            return _refusal(refused, {"Allow": "GET, POST"})
        except CodeRefusedError as refused:
            return _refusal(refused)

    # -- GET: the form ------------------------------------------------------------------

    def _form(self, target: str) -> Reply:
        code = RateLaterCode.read(_fields(urlsplit(target).query))
        case = self._checked(code)
        return _html(200, phone_page.rating_form(case, self._reason_tags()))

    # -- POST: the rating ---------------------------------------------------------------

    def _submit(self, body: bytes) -> Reply:
        try:
            fields = _fields(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise invalid_code("提交的内容无法识别。") from None
        code = RateLaterCode.read(fields)
        case = self._checked(code)
        state = self._choices(fields)
        if state.error is not None:
            page = phone_page.rating_form(case, self._reason_tags(), state)
            return _html(422, page, code="E_FIELD")
        assert state.level is not None
        tags = [c for c in fields.get("evalDetail", []) if c]
        text = state.text if state.text.strip() else None
        if state.level in REASON_LEVELS and not tags and text is None:
            missing = FormState(
                state.level, state.tags, state.text, "请至少选择一个原因，或填写文字评价。"
            )
            page = phone_page.rating_form(case, self._reason_tags(), missing)
            return _html(422, page, code="E_REASON_REQUIRED")
        rating = self._rating(code, state.level, tags, text)
        if not self.province.store.store_province_rating(rating, self.province.clock()):
            raise already_rated()
        return _html(200, phone_page.thanks(case, state.level))

    def _choices(self, fields: Mapping[str, list[str]]) -> FormState:
        """The rater's level, tags and text; `error` says what is wrong with them."""
        levels = fields.get("satisfaction", [])
        text = (fields.get("writingEvaluation") or [""])[0]
        tags = [c for c in fields.get("evalDetail", []) if c]
        level = int(levels[0]) if len(levels) == 1 and levels[0] in LEVEL_VALUES else None
        kept = FormState(level, frozenset(tags), text[:MAX_TEXT])
        if level is None:
            return _with_error(kept, "请选择一个评价等级。")
        known = {tag["code"] for tag in self.province.tags.levels[str(level)]}
        if len(fields.get("writingEvaluation", [])) > 1 or len(text) > MAX_TEXT:
            return _with_error(kept, f"文字评价最多 {MAX_TEXT} 字。")
        if len(set(tags)) != len(tags) or not set(tags) <= known:
            return _with_error(kept, "所选原因与评价等级不符，请重新选择。")
        return kept

    # -- the checks every request passes ------------------------------------------------

    def _checked(self, code: RateLaterCode) -> CaseShown:
        store, now = self.province.store, self.province.clock()
        public = store.device_keys(code.device_id).get(code.key_id)
        if public is None or not verify(public, _standard_b64(code.signature), _signed(code)):
            raise invalid_code()
        if code.issued_at > now + FUTURE_SECONDS:
            why = "二维码的签发时间晚于当前时间，设备时钟可能有误。请向窗口工作人员咨询。"
            raise CodeRefusedError(410, "E_EXPIRED", "二维码无效", why)
        if now > code.issued_at + RATING_WINDOW_SECONDS:
            why = "该办件的评价期限（7天）已过，无法再评价。感谢您的关注。"
            raise CodeRefusedError(410, "E_EXPIRED", "评价已过期", why)
        if store.is_rated(code.project_no, FIRST_RATING):
            raise already_rated()
        device = store.device(code.device_id) or {}
        return CaseShown(code.project_no, _place(device.get("site") or {}), code.as_fields())

    def _reason_tags(self) -> list[phone_page.Tag]:
        levels = self.province.tags.levels
        return phone_page.reason_tags(
            {n: [(t["code"], t["label"]) for t in levels[str(n)]] for n in REASON_LEVELS}
        )

    def _rating(
        self, code: RateLaterCode, level: int, tags: list[str], text: str | None
    ) -> ProvinceRating:
        """The record the province keeps: where the code says, what the rater chose, when
        the province received it; what it does not know stays null."""
        device = self.province.store.device(code.device_id) or {}
        site = device.get("site") or {}
        evaluation_id = str(uuid.uuid4())
        record: dict[str, Any] = {
            "evaluationId": evaluation_id,
            "deviceId": None,
            "keyId": None,
            "seq": None,
            "prevHash": None,
            "projectNo": code.project_no,
            "batchProjectNos": None,
            "theme": None,
            "taskCode": None,
            "taskName": None,
            "proStatus": None,
            "pf": QR_CHANNEL,
            **{name: site.get(name) for name in ("areaCode", "deptCode", "hallCode")},
            **{name: site.get(name) for name in ("windowNo", "terminalNo")},
            "proManagerNo": None,
            "proManager": None,
            "satisfaction": level,
            "indicators": None,
            "evalDetail": tags,
            "writingEvaluation": text,
            "assessTime": beijing_time(self.province.clock()),
            "clockSynced": True,
            "assessNumber": FIRST_RATING,
            "source": "qr",
            "reactionMs": None,
            "userProp": None,
            "userName": None,
            "certType": None,
            "certKey": None,
            "madeBy": "province",
            "rateLaterCode": {
                "deviceId": code.device_id,
                "keyId": code.key_id,
                "issuedAt": code.issued_at,
                "signature": code.signature,
            },
            "signature": None,
        }
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return ProvinceRating(
            evaluation_id=evaluation_id,
            project_no=code.project_no,
            assess_number=FIRST_RATING,
            satisfaction=level,
            canonical=canonical,
            record_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        )


def already_rated() -> CodeRefusedError:
    return CodeRefusedError(
        409, "E_ALREADY_RATED", "已评价", "该办件已经评价过，每件只能评价一次。感谢您的参与！"
    )


def _fields(query: str) -> dict[str, list[str]]:
    try:
        return parse_qs(query, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise invalid_code("提交的内容过多。") from None


def _signed(code: RateLaterCode) -> bytes:
    return signed_message(code.project_no, code.device_id, code.issued_at)


def _standard_b64(url_b64: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(url_b64 + "=" * (-len(url_b64) % 4))
    except (binascii.Error, ValueError):
        return ""
    return base64.b64encode(raw).decode("ascii")


def _place(site: Mapping[str, Any]) -> str:
    parts = [f"大厅 {site['hallCode']}" if site.get("hallCode") else None]
    if site.get("windowNo"):
        parts.append(f"{site['windowNo']} 号窗口")
    if site.get("terminalNo"):
        parts.append(f"终端 {site['terminalNo']}")
    return " · ".join(p for p in parts if p) or "政务服务大厅"


def _with_error(state: FormState, error: str) -> FormState:
    return FormState(state.level, state.tags, state.text, error)


def _html(status: int, html: str, code: str | None = None) -> Reply:
    headers = dict(PAGE_HEADERS)
    if code is not None:
        headers["X-Error-Code"] = code
    return Reply(status, html, headers, content_type=HTML_TYPE)


def _refusal(refused: CodeRefusedError, extra: Mapping[str, str] | None = None) -> Reply:
    reply = _html(refused.status, phone_page.refusal(refused.title, refused.why, refused.code))
    reply.headers["X-Error-Code"] = refused.code
    reply.headers.update(extra or {})
    return reply
