"""RFC 9457 problem+json responses with CONTRACT.md's stable codes."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from shared.domain.errors import DomainError

PROBLEM_TYPE = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str = "", **extra: Any) -> Response:
    body = {"type": "about:blank", "status": status, "title": title, "detail": detail, "code": code}
    body.update(extra)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_TYPE)
    return response


_TITLES = {
    "illegal_transition": "Illegal transition",
    "stale_version": "Stale version",
    "validation_error": "Validation error",
    "not_found": "Not found",
    "forbidden": "Forbidden",
    "idempotency_key_reuse": "Idempotency-Key reused",
    "approval_pending": "Waiting for the customer's approval",
    "checks_pending": "Inspections pending",
    "already_decided": "Already decided",
}


def from_domain(error: DomainError) -> Response:
    return problem(
        error.status, error.code, _TITLES.get(error.code, error.code), error.detail, **error.extra
    )


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def on_domain_error(error: DomainError) -> Response:
        return from_domain(error)

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException) -> Response | HTTPException:
        wants_json = request.path.startswith("/api/") or request.accept_mimetypes.best in (
            "application/json",
            PROBLEM_TYPE,
        )
        if not wants_json:
            return error
        status = error.code or 500
        codes = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
            415: "unsupported_media_type",
            429: "rate_limited",
        }
        return problem(status, codes.get(status, "http_error"), error.name, error.description or "")
