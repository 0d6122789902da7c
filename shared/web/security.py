"""Security headers on every response and the Socket.IO origin allow-list.

CSP allows only this origin (plus data: images for the QR); scripts are files
in static/, never inline. Socket.IO accepts the public URL's origin only,
never ``*``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from shared.config import Settings


def allowed_origins(settings: Settings) -> list[str]:
    parts = urlsplit(settings.public_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    origins = {origin}
    if parts.hostname in ("127.0.0.1", "localhost"):
        port = f":{parts.port}" if parts.port else ""
        origins |= {f"{parts.scheme}://127.0.0.1{port}", f"{parts.scheme}://localhost{port}"}
    return sorted(origins)


def rate_key() -> str:
    """Rate-limit per credential when there is one, else per address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "auth:" + header[-16:]
    return "ip:" + (request.remote_addr or "?")


def register(app: Flask, settings: Settings) -> None:
    @app.after_request
    def headers(response: Response) -> Response:
        host = request.host
        csp = (
            "default-src 'self'; "
            "script-src 'self'; "
            "style-src 'self'; "
            "img-src 'self' data: blob:; "
            "font-src 'self'; "
            f"connect-src 'self' ws://{host} wss://{host}; "
            "media-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        )
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Permissions-Policy", "geolocation=(), microphone=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if settings.public_url.startswith("https://"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
