"""RFC 9457 problem+json responses with stable codes (docs/API.md); their
title and detail in the request's language (``shared/web/problem_text.py``)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, json, request
from flask_limiter import RequestLimit
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as AnyResponse

from shared.domain.errors import DomainError
from shared.web import problem_text

PROBLEM_TYPE = "application/problem+json"


def _response(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "status": status, "title": title, "detail": detail, "code": code}
    body.update(extra)
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_TYPE)


def problem(status: int, code: str, title: str, detail: str = "", **extra: Any) -> Response:
    """A problem+json answer; ``title`` and ``detail`` are said in the
    request's language (``problem_text``), ``code`` and the extras are not."""
    return _response(
        status,
        code,
        problem_text.title_of(code, title),
        problem_text.detail_text(detail),
        **extra,
    )


def from_domain(error: DomainError) -> Response:
    title, detail = problem_text.error_text(error)
    response = _response(error.status, error.code, title, detail, **error.extra)
    if getattr(error, "replayed", False):
        # The stored first answer to an Idempotency-Key, as for a success.
        response.headers["Idempotent-Replayed"] = "true"
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int):
        # A refusal that says when to come back (slow_down) says it as HTTP does.
        response.headers["Retry-After"] = str(retry_after)
    return response


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
# Headers of the exception's own HTML rendering; the problem sets its own.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


def is_api_path(path: str) -> bool:
    """The REST API (``/api/…``) and every screen's own JSON endpoints
    (``/kiosk/api/…``, ``/desk/api/…``, ``/foreman/api/…``): "api" as the
    first or the second segment. Their clients read JSON whatever Accept
    header their fetch() sent, so every refusal there is problem+json."""
    return "api" in path.split("/", 3)[1:3]


def _wants_json() -> bool:
    return is_api_path(request.path) or request.accept_mimetypes.best in (
        "application/json",
        PROBLEM_TYPE,
    )


def from_http(error: HTTPException) -> Response:
    """Any werkzeug/Flask HTTP refusal (404, 405, 413, Flask-Limiter's 429…)
    as problem+json, keeping the headers the exception carries: ``Allow`` on
    a 405, ``Retry-After`` on a 429, ``WWW-Authenticate`` on a 401."""
    status = error.code or 500
    code = _HTTP_CODES.get(status, "http_error")
    stock = getattr(type(error), "description", None)
    response = _response(
        status,
        code,
        problem_text.title_of(code, error.name),
        problem_text.http_detail(status, error.description, stock),
    )
    for name, value in error.get_headers():
        if name.lower() not in _BODY_HEADERS:
            response.headers.add(name, value)
    return response


def seconds_to_reset(limit: RequestLimit) -> int:
    """Whole seconds until a broken limit's window lets requests through
    again (as Flask-Limiter counted it when it wrote headers), at least 1."""
    return max(1, int(limit.reset_at - time.time()))


def _with_retry_after(response: AnyResponse) -> AnyResponse:
    """A 429 of Flask-Limiter's says when to come back, unless the response
    a limit's own breach handler built says so already (the kiosk's and the
    staff sign-in's growing delays). Flask-Limiter writes no headers of its
    own here (``shared.web.extensions``)."""
    from shared.web.extensions import limiter

    broken = limiter.current_limit
    if "Retry-After" not in response.headers and broken is not None and broken.breached:
        response.headers["Retry-After"] = str(seconds_to_reset(broken))
    return response


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def on_domain_error(error: DomainError) -> Response:
        return from_domain(error)

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException) -> Response | HTTPException:
        # An exception built around a ready response (abort(response)) is
        # answered with that response, as Flask would.
        if error.response is not None or not _wants_json():
            return error
        return from_http(error)

    @app.errorhandler(RateLimitExceeded)
    def on_rate_limited(error: RateLimitExceeded) -> AnyResponse:
        answer = on_http_error(error)
        return _with_retry_after(
            answer.get_response() if isinstance(answer, HTTPException) else answer
        )
