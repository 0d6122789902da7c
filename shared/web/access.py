"""Authentication and authorisation for HTTP: a bearer token, or the staff
session cookie (then mutations must carry the CSRF token)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request, session
from flask_wtf.csrf import CSRFError, validate_csrf

from shared.domain.errors import DomainError, Forbidden
from shared.domain.policy import Command, may
from shared.services.auth import Principal
from shared.services.core import Core
from shared.web.security import OriginCheck, request_bearer
from shared.web.staff_session import principal_from_session

F = TypeVar("F", bound=Callable[..., Any])
# What the policy is asked for the two commonest checks: any staff member
# (the command's own rule decides further), and reading every order.
STAFF_ROLES = Command.STAFF_WORK
READ_ROLES = Command.READ_ORDERS


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


def core() -> Core:
    return cast(Core, current_app.extensions["baylight"])


def bearer_token() -> str | None:
    """This request's bearer token, if it sends one; a malformed
    Authorization header is refused."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer <token>'.")
    return token.strip()


def required_bearer_token() -> str:
    """The bearer token of an endpoint that takes no session cookie."""
    token = bearer_token()
    if token is None:
        raise Unauthorized("Use 'Authorization: Bearer <token>'.")
    return token


def current_principal() -> Principal | None:
    if "principal" in g:
        return cast(Principal | None, g.principal)
    principal: Principal | None = None
    token = bearer_token()
    if token is not None:
        principal = request_bearer(token)
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


def allows(principal: Principal, allowed: Command | frozenset[str]) -> bool:
    """The policy's answer for a command; a set of role names is a token check
    for screens that name their own (the policy's role sets are such sets)."""
    if isinstance(allowed, Command):
        return may(principal, allowed)
    return principal.role in allowed


def require(allowed: Command | frozenset[str]) -> Callable[[F], F]:
    """Only callers the policy allows this command; session-cookie mutations
    must pass the CSRF check."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal is None:
                raise Unauthorized("Sign in, or send a bearer token.")
            if not allows(principal, allowed):
                raise Forbidden(f"The role {principal.role} may not do this.")
            if g.get("via_session") and request.method not in ("GET", "HEAD", "OPTIONS"):
                check_csrf()
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate
