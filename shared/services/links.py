"""The base of the links Baylight hands out (customer pages, their QR codes).

A configured BAYLIGHT_PUBLIC_URL always wins: it is the address phones
outside the shop can reach. Without it, the best witness of an address that
works is the request being answered: the desk that prints a ticket reached
the server at that very host and port (after ProxyFix, so behind the nginx
of deploy/ it is the proxy's address). Work done outside any request (the
demo simulator) uses the address ``baylight serve`` listens on.

This module reads Flask's request context, the one place outside shared/web
that does: the services are called from REST views, Socket.IO handlers and
background tasks alike, and only the request knows which host it came in on.
"""

from __future__ import annotations

from flask import has_request_context, request

from shared.config import Settings


def base_url(settings: Settings) -> str:
    """Scheme, host and port (no trailing slash) to put in front of ``/t/…``."""
    if settings.public_url:
        return settings.public_url
    # An empty host is a request without a usable Host header (HTTP/1.0, or
    # characters werkzeug refuses): there is nothing to build a link from.
    if has_request_context() and request.host:
        return request.host_url.rstrip("/")
    return settings.listen_url
