"""Flask extensions created unbound (attached in the app factory), so that
blueprints can use them without importing the factory."""

from __future__ import annotations

from flask import Response
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

# Customer links: only misses count, so a customer reloading their own page is
# never limited while a guesser is stopped. One budget for the page and the API.
CUSTOMER_GUESS_LIMIT = "30 per minute"


def _missed(response: Response) -> bool:
    return response.status_code == 404


customer_guess_limit = limiter.shared_limit(
    CUSTOMER_GUESS_LIMIT, scope="customer-token-guess", deduct_when=_missed
)
