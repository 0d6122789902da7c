"""The cookie session keeps Flask's behaviour while skipping its per-request
set-up: signed round trips, tampering refused, key rotation followed."""

from __future__ import annotations

from typing import Any

from flask import Flask, session

from shared.web.cookie_session import CookieSessions


def _app(secret: str, fallbacks: list[str] | None = None) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret
    app.config["SECRET_KEY_FALLBACKS"] = fallbacks or []
    app.session_interface = CookieSessions()

    @app.post("/set/<value>")
    def set_value(value: str) -> str:
        session["who"] = value
        return "ok"

    @app.get("/get")
    def get_value() -> str:
        return str(session.get("who", "-"))

    return app


def _cookie(client: Any) -> str:
    found = client.get_cookie("session")
    assert found is not None
    return str(found.value)


def test_a_request_without_the_cookie_has_an_empty_session_and_sets_none() -> None:
    client = _app("k" * 32).test_client()
    response = client.get("/get")
    assert response.text == "-"
    assert "Set-Cookie" not in response.headers


def test_a_signed_session_comes_back_and_a_tampered_one_does_not() -> None:
    client = _app("k" * 32).test_client()
    client.post("/set/amy")
    assert client.get("/get").text == "amy"
    value = _cookie(client)
    client.set_cookie("session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert client.get("/get").text == "-"


def test_the_serializer_follows_a_rotated_key() -> None:
    app = _app("old-key" * 5)
    client = app.test_client()
    client.post("/set/bo")
    old_cookie = _cookie(client)
    assert client.get("/get").text == "bo"

    # Rotated with the old key kept as a fallback: the old cookie still reads.
    app.secret_key = "new-key" * 5
    app.config["SECRET_KEY_FALLBACKS"] = ["old-key" * 5]
    assert client.get("/get").text == "bo"

    # The old key dropped: the same cookie no longer reads.
    app.config["SECRET_KEY_FALLBACKS"] = []
    client.set_cookie("session", old_cookie)
    assert client.get("/get").text == "-"


def test_without_a_secret_key_flask_s_null_session_refuses_to_store() -> None:
    app = _app("")
    app.secret_key = None
    app.testing = False
    client = app.test_client()
    assert client.get("/get").text == "-"
    assert client.post("/set/x").status_code == 500
