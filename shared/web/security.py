"""Security headers on every response and the Socket.IO origin check.

CSP allows only this origin (plus data: images for the QR); scripts are files
in static/, never inline. A Socket.IO handshake from a browser is accepted
from the page's own origin and from the configured origins, never from ``*``
(see :class:`OriginCheck`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, request

from shared.config import Settings, origin_of
from shared.services.auth import Principal, resolve_bearer

# What a Host header may hold to be compared at all: a name or address and a
# port. Anything else (a path, user info) is no host a browser would send.
HOST_HEADER = re.compile(r"(?:[A-Za-z0-9._\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?")


def own_origin(environ: Mapping[str, Any]) -> str | None:
    """The origin this request was made to, as the server sees it: scheme and
    Host after ProxyFix (which takes X-Forwarded-* only from the nginx on this
    host, shared.web.app.gateway). None without a usable Host header."""
    scheme = environ.get("wsgi.url_scheme", "")
    host = environ.get("HTTP_HOST", "")
    if not isinstance(host, str) or not HOST_HEADER.fullmatch(host):
        return None
    try:
        return origin_of(f"{scheme}://{host}")
    except ValueError:
        return None


class OriginCheck:
    """Which web pages may open a Socket.IO connection, decided per handshake.

    Accepted: an ``Origin`` equal to the handshake's own origin (so a screen
    works on whatever address and port it reached the server by: a TV on the
    shop LAN, ``make run PORT=N``), or one of the configured origins
    (BAYLIGHT_PUBLIC_URL's and BAYLIGHT_ALLOWED_ORIGINS). Every other origin
    is refused with engine.io's 400, so a page elsewhere cannot ride a staff
    member's session cookie into the live feed.

    engine.io passes ``(origin, environ)`` to a callable: the one hook that
    sees both the origin and the request, and works alike in every async
    mode. Its own same-origin default (``None``) cannot be combined with a
    list, and it trusts X-Forwarded-Host from anyone. A handshake without
    ``Origin`` (not a browser) is not checked by engine.io; its credential is.
    """

    def __init__(self, settings: Settings) -> None:
        self.configured = settings.origins

    def __call__(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        if not origin:
            return False
        return origin in self.configured or origin == own_origin(environ)


def connect_sources(settings: Settings) -> str:
    """CSP ``connect-src``: this origin, whatever address the page came from
    ('self' matches ws:/wss: of the same host and port in CSP Level 3
    browsers), plus the websocket origin of the configured public URL.
    Never taken from a request header: a policy must not say what the client
    asked it to."""
    if not settings.public_url:
        return "'self'"
    public = origin_of(settings.public_url)
    return "'self' " + public.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


def request_bearer(token: str) -> Principal | None:
    """``token`` resolved once per request: the rate limiter's key and the
    request's credential check (``access.current_principal``) both ask."""
    found: tuple[str, Principal | None] | None = g.get("bearer_resolved")
    if found is not None and found[0] == token:
        return found[1]
    principal = resolve_bearer(current_app.extensions["baylight"], token)
    g.bearer_resolved = (token, principal)
    return principal


def rate_key() -> str:
    """Rate-limit per credential when it is a real one, else per address.

    Keyed on the principal the token resolves to (remembered briefly, so
    this costs no query per request), never on the header's text: a client
    sending a new made-up token each time would otherwise get a fresh
    budget with every request."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        principal = request_bearer(token.strip())
        if principal is not None:
            return "auth:" + principal.ref
    return "ip:" + (request.remote_addr or "?")


def register(app: Flask, settings: Settings) -> None:
    csp = (
        "default-src 'self'; "
        "script-src 'self'; "
        "style-src 'self'; "
        "img-src 'self' data: blob:; "
        "font-src 'self'; "
        f"connect-src {connect_sources(settings)}; "
        "media-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )

    every = [
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Permissions-Policy", "geolocation=(), microphone=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if settings.public_https:
        every.append(("Strict-Transport-Security", "max-age=31536000"))
    # Built once: every response gets them, and a view that set one of its
    # own (a page's own policy) keeps it.
    default = tuple((name.lower(), name, value) for name, value in every)
    api = (*default, ("cache-control", "Cache-Control", "no-store"))

    @app.after_request
    def headers(response: Response) -> Response:
        present = {name.lower() for name, _value in response.headers.items()}
        wanted = api if request.path.startswith("/api/") else default
        response.headers.extend(
            [(name, value) for key, name, value in wanted if key not in present]
        )
        return response
