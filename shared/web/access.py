"""Authentication and authorisation for HTTP: a bearer token, or the staff
session cookie (then mutations must carry the CSRF token)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request, session
from flask_wtf.csrf import CSRFError, validate_csrf

from shared.domain.errors import DomainError, Forbidden
from shared.services.auth import Principal, resolve_bearer
from shared.services.core import Core
from shared.web.security import OriginCheck
from shared.web.staff_session import principal_from_session

F = TypeVar("F", bound=Callable[..., Any])
STAFF_ROLES = frozenset({"admin", "manager", "advisor", "foreman", "technician"})
READ_ROLES = STAFF_ROLES | {"display-board", "kiosk"}


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


def core() -> Core:
    return cast(Core, current_app.extensions["baylight"])


def current_principal() -> Principal | None:
    if "principal" in g:
        return cast(Principal | None, g.principal)
    principal: Principal | None = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Use 'Authorization: Bearer <token>'.")
        principal = resolve_bearer(core(), token.strip())
        if principal is None:
            raise Unauthorized("The token is unknown or revoked.")
        g.via_session = False
    else:
        principal = principal_from_session(core(), session)
        g.via_session = principal is not None
    g.principal = principal
    return principal


def check_csrf() -> None:
    """The Flask-WTF token of this browser session, sent as X-CSRFToken."""
    try:
        validate_csrf(request.headers.get("X-CSRFToken", ""))
    except CSRFError as refused:
        raise Forbidden(f"CSRF check failed: {refused.description}") from None
    except Exception as refused:  # flask_wtf raises wtforms' ValidationError
        raise Forbidden(f"CSRF check failed: {refused}") from None


def check_customer_post() -> None:
    """A customer's decision or survey from a browser: the page's CSRF token
    when the browser holds our session cookie, and never from another origin.
    The origin rule is the live feed's (``security.OriginCheck``). The
    256-bit token in the path already keeps forgers out; this is a second lock."""
    origin = request.headers.get("Origin")
    if origin and not OriginCheck(core().settings)(origin, request.environ):
        raise Forbidden("Cross-origin request refused.")
    if current_app.config.get("SESSION_COOKIE_NAME", "session") in request.cookies:
        check_csrf()


def require(roles: frozenset[str]) -> Callable[[F], F]:
    """Only these roles; session-cookie mutations must pass the CSRF check."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal is None:
                raise Unauthorized("Sign in, or send a bearer token.")
            if principal.role not in roles:
                raise Forbidden(f"The role {principal.role} may not do this.")
            if g.get("via_session") and request.method not in ("GET", "HEAD", "OPTIONS"):
                check_csrf()
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate
