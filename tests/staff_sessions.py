"""Signing a test client in as a staff member without the /login form: a real
server-side session row (as /login opens), its credential in the cookie.

A cookie naming a user id alone signs nobody in; only a live session does.
"""

from __future__ import annotations

from typing import Any

from shared.services import staff_login
from shared.web.staff_session import SESSION_KEY


def sign_in_as(client: Any, user_id: int) -> None:
    """The test client's cookie now carries a live session of this user."""
    credential = staff_login.open_session(client.application.extensions["baylight"], user_id)
    with client.session_transaction() as session:
        session[SESSION_KEY] = credential
