"""REST for a customer's messages (issue 17; docs/NOTIFICATIONS.md, docs/API.md).

- ``GET /api/v1/orders/{id}/notifications``: the order's messages and what
  became of them (staff who read orders).
- ``POST /api/v1/orders/{id}/notifications``: the advisor's one-off message
  (admin, manager, advisor), queued now on the consented channels.
- ``POST /api/v1/orders/{id}/notifications/opt-out``: the desk records that
  the customer wants no more messages.
- ``POST /api/v1/track/{token}/notifications/opt-out``: the customer's own
  "stop messages", from the tracking page (capability link, CSRF as its
  other posts).
- ``GET /api/v1/notifications/failed``: the shop's failed messages (the
  desk's alert).

Views only parse and authorise; ``notification_commands`` owns the rules.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from shared.domain import notifications as rules
from shared.domain.errors import NotFound
from shared.domain.notification_texts import ONE_OFF_MAX
from shared.domain.policy import Command
from shared.persistence.models import RepairOrder
from shared.services import notification_commands as commands
from shared.services.auth import Principal, resolve_customer
from shared.web.access import READ_ROLES, check_customer_post, core, current_principal, require
from shared.web.extensions import customer_guess_limit
from shared.web.http_commands import command_request, reply
from shared.web.parsing import json_body, parse_timestamp, query_text

blueprint = Blueprint("api_notifications", __name__, url_prefix="/api/v1")

SENDERS = Command.RECEPTION
FAILED_WINDOW = timedelta(hours=24)


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None
    return principal


@blueprint.get("/orders/<int:order_id>/notifications")
@require(READ_ROLES)
def list_notifications(order_id: int) -> ResponseReturnValue:
    found = commands.order_messages(core(), _principal().shop_id, order_id)
    return jsonify({"notifications": found})


@blueprint.post("/orders/<int:order_id>/notifications")
@require(SENDERS)
def send_notification(order_id: int) -> ResponseReturnValue:
    body = json_body()
    text = body.string("text", required=True, multiline=True)
    named = body.data.get("channels") is not None
    listed = body.codes("channels")
    # Left out (or null): every channel the customer can be reached on.
    channels = listed if named else None
    version = body.integer("version")
    request = command_request(_principal(), body)
    return reply(
        commands.send_one_off(
            core(), request, order_id, text=text, channels=channels, version=version
        )
    )


@blueprint.post("/orders/<int:order_id>/notifications/opt-out")
@require(SENDERS)
def desk_opt_out(order_id: int) -> ResponseReturnValue:
    body = json_body()
    version = body.integer("version")
    request = command_request(_principal(), body)
    return reply(commands.opt_out(core(), request, order_id, source="desk", version=version))


def _customer(token: str) -> tuple[Principal, RepairOrder]:
    found = resolve_customer(core(), token, core().now())
    if found is None:
        raise NotFound("This link is not valid (any more).")
    return found


@blueprint.post("/track/<token>/notifications/opt-out")
@customer_guess_limit
def customer_opt_out(token: str) -> ResponseReturnValue:
    principal, row = _customer(token)
    check_customer_post()
    body = json_body()
    request = command_request(principal, body)
    return reply(commands.opt_out(core(), request, row.id, source="page"))


@blueprint.get("/notifications/failed")
@require(READ_ROLES)
def list_failed() -> ResponseReturnValue:
    raw = query_text("since")
    now = core().now()
    since = parse_timestamp("since", raw, now) if raw is not None else now - FAILED_WINDOW
    found = commands.failed_messages(core(), _principal().shop_id, since)
    return jsonify({"notifications": found})


# ------------------------------------------------------------------ OpenAPI


def openapi_paths() -> dict[str, Any]:
    """This module's part of the OpenAPI document (shared/web/openapi.py merges it)."""
    from shared.web import openapi as oa

    order_id = {"$ref": "#/components/parameters/OrderId"}
    token = {"$ref": "#/components/parameters/CustomerToken"}
    writers = "Roles: admin, manager, advisor. "
    return {
        f"{oa.API}/orders/{{order_id}}/notifications": {
            "get": oa.operation(
                "listNotifications",
                "The order's messages to its customer and what became of them",
                "orders",
                {200: oa._json_response("Oldest first.", oa.ref("NotificationList"))},
                errors=(401, 403, 404, 429),
                parameters=[order_id],
                description="status: queued, sending, sent, delivered (where the provider "
                "reports it), failed or suppressed, with reason (stale, opted_out, rate_cap, "
                "no_address, channel_not_configured, outcome_unknown, gave_up or the "
                "provider's). No recipient address: the texts name only the shop.",
            ),
            "post": oa.operation(
                "sendNotification",
                "Send the customer a one-off message",
                "orders",
                {
                    201: oa._json_response(
                        "The queued messages.", oa.ref("NotificationList"), replayable=True
                    )
                },
                errors=(401, 403, 404, 409, 413, 422, 429),
                security=oa.WRITE_SECURITY,
                parameters=[order_id],
                body="NotificationSend",
                idempotent=True,
                description=writers + "Queued at once (urgent: quiet hours do not hold it) on "
                "`channels`, or on every channel the customer agreed to and can be reached on. "
                "409 (with the order) when the customer opted out, did not agree to a channel "
                "named or has no address for it, agreed to none, or the order's customer data "
                "was erased; 409 stale_version when `version` is given and the order changed.",
            ),
        },
        f"{oa.API}/orders/{{order_id}}/notifications/opt-out": {
            "post": oa.operation(
                "optOutNotifications",
                "The customer wants no more messages on this order (recorded by the desk)",
                "orders",
                {
                    200: oa._json_response(
                        "The opt-out.", oa.ref("NotificationOptOut"), replayable=True
                    )
                },
                errors=(401, 403, 404, 409, 413, 422, 429),
                security=oa.WRITE_SECURITY,
                parameters=[order_id],
                body="NotificationOptOutRequest",
                idempotent=True,
                description=writers + "Messages still queued become suppressed (opted_out) in "
                "the same transaction. A second opt-out changes nothing (suppressed 0).",
            )
        },
        f"{oa.API}/track/{{token}}/notifications/opt-out": {
            "post": oa.operation(
                "optOutNotificationsAsCustomer",
                "The customer stops the messages about their car",
                "customer",
                {
                    200: oa._json_response(
                        "The opt-out.", oa.ref("CustomerNotificationOptOut"), replayable=True
                    )
                },
                errors=(404, 413, 422, 429),
                security=oa.PUBLIC,
                parameters=[token],
                body="CustomerNotificationOptOutRequest",
                idempotent=True,
                customer=True,
                description="From the tracking page (不再接收通知). Messages still queued "
                "become suppressed (opted_out). A second opt-out changes nothing.",
            )
        },
        f"{oa.API}/notifications/failed": {
            "get": oa.operation(
                "listFailedNotifications",
                "The shop's messages that failed (the desk's alert)",
                "orders",
                {200: oa._json_response("Newest first.", oa.ref("FailedNotificationList"))},
                errors=(401, 403, 422, 429),
                parameters=[
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                        "description": "ISO 8601 with offset; default 24 hours ago.",
                    }
                ],
            )
        },
    }


def openapi_schemas() -> dict[str, Any]:
    """The component schemas this module's paths refer to."""
    from shared.web import openapi as oa

    nullable_text = {"type": ["string", "null"]}
    message = {
        "id": oa.integer(),
        "order_id": oa.integer(),
        "channel": oa.enum_of(rules.CHANNELS),
        "kind": oa.enum_of(rules.KINDS),
        "status": oa.enum_of(rules.STATUSES),
        "reason": {**nullable_text, "description": "Why it was suppressed or failed."},
        "at": oa.timestamp("When it reached its status (sent: when it was sent)."),
        "attempts": oa.integer(minimum=0),
        "not_before": oa.timestamp("Queued: not sent before this (quiet hours, backoff)."),
        "text": {"type": "string", "description": "A one-off: what the advisor wrote."},
        "by": {"type": "string", "description": "A one-off: who sent it."},
    }
    always = ["id", "order_id", "channel", "kind", "status", "reason", "at", "attempts"]
    opt_out = {
        "opted_out": {"type": "boolean", "const": True},
        "opted_out_at": oa.timestamp("When the customer opted out (the first time)."),
        "suppressed": oa.integer("Queued messages this opt-out suppressed.", minimum=0),
    }
    return {
        "Notification": oa.obj(message, always),
        "NotificationList": oa.obj({"notifications": oa.array(oa.ref("Notification"))}),
        "FailedNotificationList": oa.obj(
            {
                "notifications": oa.array(
                    oa.obj(
                        {
                            **message,
                            "number": oa.integer("The order's queue number."),
                            "plate": {"type": "string"},
                        },
                        [*always, "number", "plate"],
                    )
                )
            }
        ),
        "NotificationSend": oa.obj(
            {
                "text": {
                    **oa.text(
                        ONE_OFF_MAX, "What to tell the customer.", min_length=1, multiline=True
                    ),
                    # Not only spaces: there must be something to say.
                    "allOf": [{"pattern": r"\S"}],
                },
                "channels": oa.array(
                    oa.enum_of(rules.CHANNELS),
                    minItems=1,
                    maxItems=20,
                    description="Default: every channel the customer agreed to and can be "
                    "reached on.",
                ),
                "version": oa.integer("The order's version you read (optional).", minimum=1),
            },
            ["text"],
        ),
        "NotificationOptOutRequest": oa.obj(
            {"version": oa.integer("The order's version you read (optional).", minimum=1)}, []
        ),
        "CustomerNotificationOptOutRequest": oa.obj({}, []),
        "NotificationOptOut": oa.obj({**opt_out, "order": oa.ref("Order")}),
        "CustomerNotificationOptOut": oa.obj({**opt_out, "order": oa.ref("CustomerOrder")}),
    }
