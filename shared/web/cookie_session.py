"""Flask's signed cookie session, without its set-up cost on every request.

Flask builds a new ``URLSafeTimedSerializer`` (key list, signer settings) at
the start of every request, before it even looks for a cookie. Most of this
server's requests carry none: the REST API's bearer calls (the busy dealer's
hundred changes a second) and the screens' socket polls. Here a request
without the session cookie gets its empty session at once, and the
serializer is built once per secret key (and fallbacks) and reused. Signing,
expiry and the cookie's flags are Flask's, unchanged.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CookieSessions(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializer: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
