"""REST API v1 (docs/API.md, /api/v1/openapi.json). Views only parse,
authorise and call one service; the services own every rule and every write.

A view reads every field of its body before it asks for the command
(``_command``), which refuses any field left unread (``parsing.Body.finish``)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address

from shared.domain.errors import NotFound, ValidationFailed
from shared.domain.events import WorkItem
from shared.domain.extra_work import QuoteTerms
from shared.domain.new_order import Customer, NewOrder, Vehicle
from shared.domain.policy import Command
from shared.domain.stages import PauseReason, Stage
from shared.persistence.models import RepairOrder
from shared.services import devices, orders, queries, shop_load
from shared.services.auth import Principal, resolve_customer
from shared.services.commands import (
    CommandRequest,
    Outcome,
)
from shared.web.access import (
    READ_ROLES,
    STAFF_ROLES,
    check_customer_post,
    core,
    current_principal,
    require,
)
from shared.web.extensions import customer_guess_limit, limiter
from shared.web.http_commands import command_request, reply
from shared.web.parsing import Body, json_body, query_flag, query_number, query_text

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

ORDER_WRITERS = Command.RECEPTION
FLOOR_WRITERS = STAFF_ROLES
DISPATCHERS = Command.DISPATCH


def _command(body: Body, principal: Principal | None = None) -> CommandRequest:
    principal = principal or current_principal()
    assert principal is not None
    return command_request(principal, body)


def _shop_id() -> int:
    principal = current_principal()
    assert principal is not None
    return principal.shop_id


@blueprint.post("/orders")
@require(ORDER_WRITERS)
def create_order() -> ResponseReturnValue:
    body = json_body()
    customer = body.obj("customer")
    vehicle = body.obj("vehicle")
    items = tuple(
        WorkItem(
            title=i.string("title", required=True), labour_hours=i.number("labour_hours") or 0.0
        )
        for i in body.objects("items")
    )
    command = NewOrder(
        plate=body.string("plate", required=True),
        customer=Customer(
            name=customer.string("name"),
            phone=customer.string("phone"),
            email=customer.string("email"),
            notify=tuple(customer.codes("notify")),
            language=customer.string("language"),
        ),
        vehicle=Vehicle(
            model=vehicle.string("model"),
            vin=vehicle.string("vin"),
            mileage=vehicle.integer("mileage"),
        ),
        complaint=body.string("complaint", multiline=True),
        items=items,
        promised_at=body.timestamp("promised_at"),
        waiting=body.boolean("waiting"),
        wash=body.boolean("wash"),
        priority=body.string("priority", default="normal"),
        booked=body.boolean("booked"),
    )
    return reply(orders.open_order(core(), _command(body), command))


def _flag(name: str) -> bool | None:
    raw = query_text(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise ValidationFailed(name, f"{name} must be true or false.")
    return raw == "true"


@blueprint.get("/orders")
@require(READ_ROLES)
def list_orders() -> ResponseReturnValue:
    active = _flag("active")
    stage = query_text("stage")
    found = queries.list_orders(
        core(), _shop_id(), active=True if active is None and stage is None else active, stage=stage
    )
    return jsonify({"orders": found})


@blueprint.get("/orders/<int:order_id>")
@require(READ_ROLES)
def get_order(order_id: int) -> ResponseReturnValue:
    return jsonify(queries.get_order(core(), _shop_id(), order_id))


def _stage(value: str) -> Stage:
    try:
        return Stage(value)
    except ValueError:
        raise ValidationFailed("to", f"Unknown stage {value!r}.") from None


def _pause_reason(value: str | None) -> PauseReason | None:
    if not value:
        return None
    try:
        return PauseReason(value)
    except ValueError:
        raise ValidationFailed(
            "pause_reason", "pause_reason is parts, approval or other."
        ) from None


@blueprint.post("/orders/<int:order_id>/transitions")
@require(FLOOR_WRITERS)
def transition(order_id: int) -> ResponseReturnValue:
    body = json_body()
    to = _stage(body.string("to", required=True))
    version = body.required_integer("version")
    reason = body.string("reason", multiline=True)
    pause_reason = _pause_reason(body.string("pause_reason") or None)
    outcome = orders.transition_order(
        core(),
        _command(body),
        order_id,
        to=to,
        version=version,
        reason=reason,
        pause_reason=pause_reason,
    )
    return reply(outcome)


@blueprint.post("/orders/<int:order_id>/checks")
@require(FLOOR_WRITERS)
def pass_check(order_id: int) -> ResponseReturnValue:
    """Sign the next inspection level. A failed check is a transition back to
    in_progress with a reason."""
    body = json_body()
    version = body.required_integer("version")
    return reply(orders.pass_check(core(), _command(body), order_id, version=version))


@blueprint.put("/orders/<int:order_id>/assignment")
@require(DISPATCHERS)
def assign(order_id: int) -> ResponseReturnValue:
    body = json_body()
    bay = body.string("bay", required=True)
    technicians = body.integers("technicians", required=True)
    version = body.required_integer("version")
    outcome = orders.assign_order(
        core(), _command(body), order_id, bay=bay, technicians=technicians, version=version
    )
    return reply(outcome)


@blueprint.post("/orders/<int:order_id>/extra-work")
@require(FLOOR_WRITERS)
def quote_extra_work(order_id: int) -> ResponseReturnValue:
    body = json_body()
    hours = body.number("labour_hours", required=True)
    description = body.string("description", required=True, multiline=True)
    price_cents = body.required_integer("price_cents")
    version = body.required_integer("version")
    outcome = orders.quote_extra_work(
        core(),
        _command(body),
        order_id,
        QuoteTerms(description, hours if hours is not None else 0.0, price_cents),
        version=version,
    )
    return reply(outcome)


@blueprint.post("/orders/<int:order_id>/extra-work/<int:quote_id>/decision")
@require(ORDER_WRITERS)
def decide_extra_work(order_id: int, quote_id: int) -> ResponseReturnValue:
    body = json_body()
    approved = body.boolean("approved", required=True)
    quote_version = body.required_integer("quote_version")
    channel = body.string("channel", default="phone")
    outcome = orders.decide_extra_work(
        core(),
        _command(body),
        order_id,
        quote_id=quote_id,
        approved=approved,
        quote_version=quote_version,
        channel=channel,
    )
    return reply(outcome)


@blueprint.put("/orders/<int:order_id>/extra-work/<int:quote_id>")
@require(FLOOR_WRITERS)
def revise_quote(order_id: int, quote_id: int) -> ResponseReturnValue:
    body = json_body()
    description = body.string("description", required=True, multiline=True)
    hours = body.number("labour_hours", required=True)
    price_cents = body.required_integer("price_cents")
    quote_version = body.required_integer("quote_version")
    terms = QuoteTerms(description, hours if hours is not None else 0.0, price_cents)
    outcome = orders.revise_quote(
        core(), _command(body), order_id, terms, quote_id=quote_id, quote_version=quote_version
    )
    return reply(outcome)


@blueprint.post("/orders/<int:order_id>/parts")
@require(FLOOR_WRITERS)
def request_parts(order_id: int) -> ResponseReturnValue:
    body = json_body()
    description = body.string("description", required=True)
    eta = body.timestamp("eta")
    version = body.integer("version")
    outcome = orders.request_parts(
        core(), _command(body), order_id, description=description, eta=eta, version=version
    )
    return reply(outcome)


@blueprint.patch("/orders/<int:order_id>/parts/<int:part_id>")
@require(FLOOR_WRITERS)
def change_parts_status(order_id: int, part_id: int) -> ResponseReturnValue:
    body = json_body()
    status = body.string("status", required=True)
    eta = body.timestamp("eta")
    outcome = orders.change_parts_status(
        core(), _command(body), order_id, part_id=part_id, status=status, eta=eta
    )
    return reply(outcome)


@blueprint.post("/orders/<int:order_id>/pause-reasons/<key>/clear")
@require(FLOOR_WRITERS)
def clear_pause_reason(order_id: int, key: str) -> ResponseReturnValue:
    body = json_body()
    version = body.integer("version")
    outcome = orders.clear_pause_reason(core(), _command(body), order_id, key=key, version=version)
    return reply(outcome)


@blueprint.put("/orders/<int:order_id>/promise")
@require(ORDER_WRITERS)
def change_promise(order_id: int) -> ResponseReturnValue:
    """A new promised time (承诺交车) and why: the event ``promise_changed``."""
    body = json_body()
    promised_at = body.timestamp("promised_at")
    if promised_at is None:
        raise ValidationFailed("promised_at", "promised_at is required.")
    reason = body.string("reason", required=True)
    version = body.required_integer("version")
    outcome = orders.change_promise(
        core(), _command(body), order_id, promised_at=promised_at, reason=reason, version=version
    )
    return reply(outcome)


@blueprint.get("/promise")
@require(ORDER_WRITERS)
def promise() -> ResponseReturnValue:
    """The earliest honest promise for a new order of ``labour_hours``, from
    the shop-load engine: {promised_at, starts_at, queue_minutes}."""
    hours = query_number("labour_hours", required=True)
    waiting = query_flag("waiting")
    return jsonify(shop_load.suggest_promise(core(), _shop_id(), hours, waiting=waiting))


@blueprint.get("/bays")
@require(READ_ROLES)
def list_bays() -> ResponseReturnValue:
    return jsonify({"bays": queries.list_bays(core(), _shop_id())})


@blueprint.get("/technicians")
@require(READ_ROLES)
def list_technicians() -> ResponseReturnValue:
    return jsonify({"technicians": queries.list_technicians(core(), _shop_id())})


def _bounded(name: str, default: int, low: int, high: int) -> int:
    raw = query_text(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationFailed(name, f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


@blueprint.get("/events")
@require(READ_ROLES)
def list_events() -> ResponseReturnValue:
    after = _bounded("after", 0, 0, queries.EVENTS_AFTER_MAX)
    limit = _bounded("limit", 100, 1, 1000)
    return jsonify(queries.events_after(core(), _shop_id(), after, limit))


# ------------------------------------------------------------- customer


def _customer(token: str) -> tuple[Principal, RepairOrder]:
    found = resolve_customer(core(), token, core().now())
    if found is None:
        raise NotFound("This link is not valid (any more).")
    return found


@blueprint.get("/track/<token>")
@customer_guess_limit
def track(token: str) -> ResponseReturnValue:
    principal, _row = _customer(token)
    snapshot = queries.snapshot(core(), principal)
    response = jsonify({"seq": snapshot["seq"], "order": snapshot["orders"][0]})
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/track/<token>/extra-work/<int:quote_id>/decision")
@customer_guess_limit
def customer_decision(token: str, quote_id: int) -> ResponseReturnValue:
    principal, row = _customer(token)
    check_customer_post()
    body = json_body()
    approved = body.boolean("approved", required=True)
    quote_version = body.required_integer("quote_version")
    outcome = orders.decide_extra_work(
        core(),
        _command(body, principal),
        row.id,
        quote_id=quote_id,
        approved=approved,
        quote_version=quote_version,
        channel="customer_page",
    )
    return reply(Outcome(outcome.status, {"order": outcome.body}, outcome.replayed))


@blueprint.post("/track/<token>/survey")
@customer_guess_limit
def customer_survey(token: str) -> ResponseReturnValue:
    principal, row = _customer(token)
    check_customer_post()
    body = json_body()
    rating = body.required_integer("rating")
    comment = body.string("comment", multiline=True)
    outcome = orders.submit_survey(
        core(), _command(body, principal), row.id, rating=rating, comment=comment
    )
    return reply(Outcome(outcome.status, {"order": outcome.body}, outcome.replayed))


# ------------------------------------------------------------- pairing


# Per address on top of the API's per-caller limit (override_defaults=False
# keeps that one): pairing needs no credential, so the address is all there is.
@blueprint.post("/devices/pairing")
@limiter.limit(
    f"{devices.PAIRINGS_PER_ADDRESS_PER_MINUTE} per minute;"
    f"{devices.PAIRINGS_PER_ADDRESS_PER_HOUR} per hour",
    key_func=get_remote_address,
    override_defaults=False,
)
def start_pairing() -> ResponseReturnValue:
    body = json_body()
    kind = body.string("kind", required=True)
    body.finish()
    started = devices.start_pairing(core(), kind)
    return jsonify(
        {
            "user_code": started.user_code,
            "device_code": started.device_code,
            "expires_in": started.expires_in,
            "interval": started.interval,
        }
    ), 201


@blueprint.post("/devices/pairing/poll")
@limiter.limit(
    f"{devices.POLLS_PER_ADDRESS_PER_MINUTE} per minute",
    key_func=get_remote_address,
    override_defaults=False,
)
def poll_pairing() -> ResponseReturnValue:
    """RFC 8628 polling; a poll sooner than the pairing's interval is a 429
    ``slow_down`` problem with the new ``interval`` (devices.SlowDown)."""
    body = json_body()
    device_code = body.string("device_code", required=True)
    body.finish()
    return jsonify(devices.poll_pairing(core(), device_code))


@blueprint.get("/whoami")
def whoami() -> ResponseReturnValue:
    principal = current_principal()
    if principal is None:
        return jsonify({"authenticated": False})
    return jsonify(
        {
            "authenticated": True,
            "kind": principal.kind,
            "role": principal.role,
            "name": principal.name,
            "shop_id": principal.shop_id,
            "audience": principal.audience,
        }
    )


@blueprint.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    from shared.web.openapi import document

    return jsonify(document())
