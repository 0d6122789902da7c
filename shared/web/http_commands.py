"""How an HTTP request becomes a service command and an outcome becomes a
response; shared by the REST API and the screens' own JSON endpoints."""

from __future__ import annotations

from flask import Response, jsonify, request

from shared.services.auth import Principal
from shared.services.commands import (
    CommandRequest,
    Outcome,
    fingerprint,
    validate_idempotency_key,
)
from shared.web.parsing import Body


def command_request(principal: Principal, body: Body) -> CommandRequest:
    """Who, which shop, and the Idempotency-Key with the fingerprint of
    method, path and body (a key reused with another request is refused).

    The view has read every field it takes by now, so the body is finished
    here: a field it did not read is refused before anything runs."""
    body.finish()
    key = validate_idempotency_key(request.headers.get("Idempotency-Key"))
    return CommandRequest(
        actor=principal.actor(),
        shop_id=principal.shop_id,
        idempotency_key=key,
        fingerprint=fingerprint(request.method, request.path, body.data) if key else None,
    )


def reply(outcome: Outcome) -> Response:
    """The outcome as JSON; a replayed key says so in a header."""
    response = jsonify(outcome.body)
    response.status_code = outcome.status
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
