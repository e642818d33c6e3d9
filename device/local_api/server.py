"""The evaluator's local HTTP API: the counter's business system (or the self-service app)
pushes cases, signs staff in and out and reads the evaluator's status.

Routes only; `device.local_api.http` does the HTTP. The contract is `openapi.json` beside it.
"""

from __future__ import annotations

import io
import logging
import ssl
import threading
from collections.abc import Callable
from enum import StrEnum
from http import HTTPStatus
from importlib import resources
from typing import Any, Protocol

import segno

from device.flow.mode import Mode
from device.local_api.case_guard import Admission, CaseGuard
from device.local_api.case_intake import (
    TEXT_LIMITS,
    CaseError,
    known_mode,
    parse_case,
    text,
)
from device.local_api.http import (
    ApiError,
    Body,
    JsonServer,
    Reply,
    Request,
    Route,
    handler_for,
)
from device.local_api.staff_intake import parse_staff
from device.record.rate_later import RateLaterCode
from device.record.rating import Case, Staff
from device.web_page.pages import RatePages

log = logging.getLogger(__name__)

BASE = "/api/v1"
OPENAPI_FILE = "openapi.json"
MAX_SIGN_IN_BODY = 400 * 1024  # room for a 256 KiB photo in base64 and the names
PNG_TYPE = "image/png"
QR_SCALE = 8  # pixels per module: about 3 cm wide at a receipt printer's 203 dpi


class RefusalCode(StrEnum):
    PAUSED = "E_PAUSED"  # a window evaluator with no staff signed in
    OUT_OF_SERVICE = "E_OUT_OF_SERVICE"  # starting up, or unable to store ratings


class Refusal(str):
    """Why the evaluator did not take a case: a code and, when out of service, the reason.

    It reads as it is logged and compared, `E_PAUSED` or `E_OUT_OF_SERVICE: <reason>`; the
    API answers from the fields, never from the text.
    """

    code: RefusalCode
    reason: str | None

    def __new__(cls, code: RefusalCode, reason: str | None = None) -> Refusal:
        refusal = super().__new__(cls, code.value if reason is None else f"{code.value}: {reason}")
        refusal.code = code
        refusal.reason = reason
        return refusal

    @classmethod
    def paused(cls) -> Refusal:
        return cls(RefusalCode.PAUSED)

    @classmethod
    def out_of_service(cls, reason: str) -> Refusal:
        return cls(RefusalCode.OUT_OF_SERVICE, reason)


class EvaluatorControl(Protocol):
    """What the API asks of the evaluator; called from the server's threads."""

    def push_case(self, case: Case, page_id: str | None = None) -> Refusal | None:
        """None = queued; else why not. *page_id*: the browser page that will show it."""
        ...

    def cancel_case(self, project_no: str) -> bool:
        """End the case on screen, not yet rated, as cancelled; False = not on screen."""
        ...

    def sign_in(self, staff: Staff) -> None: ...

    def sign_out(self) -> None: ...

    def status(self) -> dict[str, Any]:
        """The status object of the OpenAPI document (`Status`)."""
        ...

    def rate_later_code(self, project_no: str) -> RateLaterCode | Refusal | None:
        """The case's rate-later code (the same each time); None = not a case pushed here."""
        ...


def openapi_document() -> bytes:
    """The API's OpenAPI 3.0 document, served as it is stored."""
    return resources.files("device.local_api").joinpath(OPENAPI_FILE).read_bytes()


class LocalApi:
    """Serves the local API on its own thread until `stop()`."""

    def __init__(
        self,
        bind: str,
        port: int,
        token: str,
        control: EvaluatorControl,
        mode: Mode,
        guard: CaseGuard | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        rate_pages: RatePages | None = None,
        page_routes: list[Route] | None = None,
    ) -> None:
        """*guard*: refuses a case already rated (or on screen); without it every valid
        case is handed on. *rate_pages* and *page_routes*: the rating page in a browser (a
        web terminal): each pushed case gets a page, named in the answer."""
        self.mode = known_mode(mode)
        if not token:
            raise ValueError("the local API needs a token")
        self.control = control
        self.guard = guard
        self.rate_pages = rate_pages
        self._openapi = openapi_document()
        routes = self._routes() + list(page_routes or [])
        self._server = JsonServer((bind, port), handler_for(routes, token), tls=tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.5}, name="local-api"
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _routes(self) -> list[Route]:
        return [
            Route("POST", f"{BASE}/cases", self._push_case, Body.JSON),
            Route("DELETE", f"{BASE}/cases/{{projectNo}}", self._cancel_case),
            Route("POST", f"{BASE}/staff/sign-in", self._sign_in, Body.JSON, MAX_SIGN_IN_BODY),
            Route("POST", f"{BASE}/staff/sign-out", self._sign_out, Body.OPTIONAL_JSON),
            Route("GET", f"{BASE}/status", self._status),
            Route("GET", f"{BASE}/cases/{{projectNo}}/rate-later", self._rate_later),
            Route("GET", f"{BASE}/cases/{{projectNo}}/rate-later.png", self._rate_later_png),
            Route("GET", f"{BASE}/openapi.json", self._openapi_json, public=True),
        ]

    def _push_case(self, request: Request) -> Reply:
        case = _valid(parse_case, request.body, self.mode)
        self._admit(case)
        page_id = None
        if self.rate_pages is not None:
            page_id = self.rate_pages.new_page(case.project_no)
        try:
            refusal = (
                self.control.push_case(case, page_id) if page_id else self.control.push_case(case)
            )
        except BaseException:
            self._release(case, page_id)
            raise
        if refusal is not None:
            self._release(case, page_id)
            raise _refused(refusal)
        log.info("local api: case %s queued", case.project_no)
        answer = {"projectNo": case.project_no, "status": "queued"}
        if page_id is not None:
            answer["ratePage"] = f"/rate/{page_id}"
        return Reply(HTTPStatus.ACCEPTED, answer)

    def _admit(self, case: Case) -> None:
        if self.guard is None:
            return
        match self.guard.admit(case):
            case Admission.ON_SCREEN:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "E_ON_SCREEN",
                    "that case number is on screen now: it cannot be pushed again",
                )
            case Admission.ALREADY_RATED:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "E_ALREADY_RATED",
                    "that case (or a case of its batch) with this assessNumber was already "
                    "rated, or a bad level was pressed for it: it cannot be rated again here",
                )
            case Admission.NOT_RATED_YET:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "E_NOT_RATED_YET",
                    "a follow-up (assessNumber 2 or more) is only for a case rated here with "
                    "assessNumber 1; this case has no such rating, and a bad level was pressed "
                    "for it: push it with assessNumber 1",
                )
            case Admission.ADMITTED:
                return

    def _release(self, case: Case, page_id: str | None = None) -> None:
        if self.guard is not None:
            self.guard.release(case)
        if page_id is not None and self.rate_pages is not None:
            self.rate_pages.forget(page_id)

    def _cancel_case(self, request: Request) -> Reply:
        project_no = _valid(
            text, request.params["projectNo"], "projectNo", TEXT_LIMITS["projectNo"]
        )
        if not self.control.cancel_case(project_no):
            raise ApiError(HTTPStatus.NOT_FOUND, "E_NOT_FOUND", "that case is not on screen")
        log.info("local api: case %s cancelled", project_no)
        return Reply(HTTPStatus.OK, {"projectNo": project_no, "status": "cancelled"})

    def _sign_in(self, request: Request) -> Reply:
        self._refuse_on_self_service()
        self.control.sign_in(_valid(parse_staff, request.body))
        log.info("local api: staff signed in")
        return Reply(HTTPStatus.OK, {"status": "signed_in"})

    def _sign_out(self, request: Request) -> Reply:
        self._refuse_on_self_service()
        if request.has_body and request.body != {}:
            raise ApiError(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "E_FIELD",
                "send no body or {}",
                _first_key(request.body),
            )
        self.control.sign_out()
        log.info("local api: staff signed out")
        return Reply(HTTPStatus.OK, {"status": "signed_out"})

    def _status(self, _request: Request) -> Reply:
        return Reply(HTTPStatus.OK, self.control.status())

    def _rate_later(self, request: Request) -> Reply:
        code = self._code(request)
        body = {"projectNo": code.project_no, "url": code.url, "issuedAt": code.issued_at}
        return Reply(HTTPStatus.OK, body)

    def _rate_later_png(self, request: Request) -> Reply:
        code = self._code(request)
        image = io.BytesIO()
        segno.make(code.url, error="m").save(image, kind="png", scale=QR_SCALE, border=4)
        return Reply(HTTPStatus.OK, image.getvalue(), content_type=PNG_TYPE)

    def _code(self, request: Request) -> RateLaterCode:
        """The rate-later code of a case pushed to this device, or why there is none."""
        project_no = _valid(
            text, request.params["projectNo"], "projectNo", TEXT_LIMITS["projectNo"]
        )
        if self.guard is not None and self.guard.already_rated(project_no):
            raise ApiError(
                HTTPStatus.CONFLICT, "E_ALREADY_RATED", "this case is already rated on this device"
            )
        code = self.control.rate_later_code(project_no)
        if code is None:
            raise ApiError(
                HTTPStatus.NOT_FOUND, "E_NOT_FOUND", "no such case was pushed to this device"
            )
        if isinstance(code, Refusal):
            raise _refused(code)
        log.info("local api: rate-later code handed out for a case")
        return code

    def _openapi_json(self, _request: Request) -> Reply:
        return Reply(HTTPStatus.OK, self._openapi)

    def _refuse_on_self_service(self) -> None:
        if not self.mode.needs_staff:
            raise ApiError(
                HTTPStatus.CONFLICT,
                "E_MODE",
                "this is a self-service terminal: it rates without staff",
            )


def _valid(parse: Callable[..., Any], *args: Any) -> Any:
    """`parse(*args)`, a `CaseError` becoming 422 E_FIELD with the field named."""
    try:
        return parse(*args)
    except CaseError as exc:
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, exc.code, exc.message, exc.field) from exc


def _refused(refusal: Refusal) -> ApiError:
    match refusal.code:
        case RefusalCode.PAUSED:
            return ApiError(
                HTTPStatus.CONFLICT, refusal.code.value, "no staff signed in: sign in first"
            )
        case RefusalCode.OUT_OF_SERVICE:
            return ApiError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                refusal.code.value,
                refusal.reason or "out of service",
            )


def _first_key(body: Any) -> str:
    return next(iter(body)) if isinstance(body, dict) and body else "$"
