"""Flask extensions created unbound (attached in the app factory), so that
blueprints can use them without importing the factory."""

from __future__ import annotations

from flask import Response
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
# No X-RateLimit-* headers: writing them asked the limit's storage for its
# window once more on every limited request (3 % of the server's Python time
# in the busy dealer of ``make bench``), for headers no client of ours reads
# and docs/API.md never promised. A 429 of Flask-Limiter's still says when to
# come back (``Retry-After``, ``shared.web.problems``).
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)

# Customer links: only misses count, so a customer reloading their own page is
# never limited while a guesser is stopped. One budget for the page and the API.
CUSTOMER_GUESS_LIMIT = "30 per minute"


def _missed(response: Response) -> bool:
    return response.status_code == 404


customer_guess_limit = limiter.shared_limit(
    CUSTOMER_GUESS_LIMIT, scope="customer-token-guess", deduct_when=_missed
)
