"""The public booking page's JSON and the customer's own appointment link's
(issue 18): what /book/<shop> and /a/<token> call.

Public (/api/v1/book/<shop>/…): nobody is signed in, so every call is
rate-limited per address, and the calls that text a code or book are limited
per phone too (a stranger must not make the shop text someone all day, nor
fill a day with one number). A booking is a mutation from a page this server
rendered: it must carry that page's CSRF token and may not come from another
origin. A shop that switched online booking off answers 404, as a shop that
does not exist does.

Link (/api/v1/appointment-link/<token>/…): the token in the path is the
credential, as for the order's customer page (``/api/v1/track/<token>``):
failed lookups share the customer links' guessing budget, and the link's
answers hold only that one appointment. Mutations are idempotent
(Idempotency-Key); each is checked against the appointment's state in its
own transaction (a cancelled, arrived or begun appointment cannot be changed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address

from shared.domain.errors import Message, NotFound, ValidationFailed
from shared.domain.new_order import Customer
from shared.domain.work_catalogue import BY_CODE, items_for
from shared.services import appointment_public, booking_public
from shared.services.appointments import Booking, Item
from shared.services.booking_public import BookingShop, booking_shop, link_facts
from shared.services.commands import Outcome, fingerprint, validate_idempotency_key
from shared.web.access import check_csrf, check_customer_post, core
from shared.web.extensions import customer_guess_limit, limiter
from shared.web.http_commands import reply
from shared.web.parsing import Body, json_body, parse_date, query_text

blueprint = Blueprint("api_booking", __name__, url_prefix="/api/v1")

# Per address: reading a day's free starts, asking for a code, booking.
SLOTS_PER_ADDRESS = "60 per minute"
CODES_PER_ADDRESS = "10 per hour"
BOOKINGS_PER_ADDRESS = "20 per hour"
# Per phone (whatever address it comes from): texts asked for, bookings made
# (only those made count: see ``_booked``).
CODES_PER_PHONE = "3 per 10 minutes;6 per day"
BOOKINGS_PER_PHONE = "5 per hour"

# The most days the page offers, whatever the shop's days_ahead says.
BOOKING_DAYS_SHOWN = 30

_NO_WORK = "Choose the work to book (%(field)s)."
_UNKNOWN_WORK = "%(field)s names work this shop does not offer online."
_DIGITS = re.compile(r"\D+")


def phone_key() -> str:
    """The rate-limit key of the phone a request names: its digits only, so
    ``138 0013 8000`` and ``+86 13800138000`` are one budget."""
    data = request.get_json(silent=True)
    raw = data.get("phone") if isinstance(data, dict) else None
    digits = _DIGITS.sub("", raw) if isinstance(raw, str) else ""
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return "phone:" + (digits or "none")


def _booked(response: Response) -> bool:
    """Only bookings made count against a phone's budget: a wrong code or
    a mistyped field is the per-address budget's (and the code's own five
    tries')."""
    return response.status_code == 201 and response.headers.get("Idempotent-Replayed") is None


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _open_shop(slug: str) -> BookingShop:
    """The shop behind /book/<slug>, when it takes bookings online."""
    shop = booking_shop(core(), slug)
    if shop is None or not shop.online_booking:
        raise NotFound("This shop does not take bookings online.")
    return shop


def _key(body: Body) -> tuple[str | None, str | None]:
    """The Idempotency-Key and the request's fingerprint (a key reused with
    another request is refused); the body is finished first: a field the
    view did not read is refused before anything runs."""
    body.finish()
    key = validate_idempotency_key(request.headers.get("Idempotency-Key"))
    return key, fingerprint(request.method, request.path, body.data) if key else None


def _check_public_post() -> None:
    """A booking page's POST: from this origin, with the page's CSRF token.
    The page was rendered by this server, so a caller without its session
    has no business booking through this door (the REST API is the other)."""
    check_customer_post()
    check_csrf()


def _day(shop: BookingShop) -> date:
    raw = query_text("date")
    if not raw:
        raise ValidationFailed("date", Message("%(field)s is required.", field="date"))
    day = parse_date("date", raw)
    today = core().now().astimezone(ZoneInfo(shop.timezone)).date()
    if not today <= day <= today + timedelta(days=min(shop.days_ahead, BOOKING_DAYS_SHOWN)):
        raise ValidationFailed(
            "date", Message("%(field)s is not a day this shop takes bookings for.", field="date")
        )
    return day


def _work(codes: list[str]) -> list[dict[str, Any]]:
    if any(code not in BY_CODE for code in codes):
        raise ValidationFailed("work", Message(_UNKNOWN_WORK, field="work"))
    return items_for(codes)


def slot_list(starts: list[datetime], timezone: str) -> list[dict[str, str]]:
    """Free starts as the page shows them: the instant and the shop's clock."""
    zone = ZoneInfo(timezone)
    return [
        {
            "start": start.astimezone(zone).isoformat(),
            "time": start.astimezone(zone).strftime("%H:%M"),
        }
        for start in starts
    ]


@blueprint.get("/book/<shop>/slots")
@limiter.limit(SLOTS_PER_ADDRESS, key_func=get_remote_address, override_defaults=False)
def public_slots(shop: str) -> ResponseReturnValue:
    """The day's free starts for the chosen work: only starts where it still
    fits (a reception place and the labour), nothing about other customers."""
    found = _open_shop(shop)
    day = _day(found)
    work = _work([code for code in (query_text("work") or "").split(",") if code])
    starts = booking_public.free_starts(core(), found.id, day, work)
    return _private(jsonify({"date": day.isoformat(), "slots": slot_list(starts, found.timezone)}))


@blueprint.post("/book/<shop>/code")
@limiter.limit(CODES_PER_ADDRESS, key_func=get_remote_address, override_defaults=False)
@limiter.limit(CODES_PER_PHONE, key_func=phone_key, override_defaults=False)
def request_code(shop: str) -> ResponseReturnValue:
    """Text a booking code to the phone (when the shop checks phones)."""
    found = _open_shop(shop)
    # The body first: an oversized one is 413 whoever sends it.
    body = json_body()
    _check_public_post()
    phone = body.string("phone", required=True)
    body.finish()
    answer = appointment_public.request_code(core(), found.slug, phone)
    return _private(jsonify(answer)), 202


@blueprint.post("/book/<shop>/appointments")
@limiter.limit(BOOKINGS_PER_ADDRESS, key_func=get_remote_address, override_defaults=False)
@limiter.limit(BOOKINGS_PER_PHONE, key_func=phone_key, override_defaults=False, deduct_when=_booked)
def book(shop: str) -> ResponseReturnValue:
    """Book the chosen work at a free start: 201 with the customer's own
    view and link; 409 ``capacity_full`` with the nearest free starts."""
    found = _open_shop(shop)
    # The body first: an oversized one is 413 whoever sends it.
    body = json_body()
    _check_public_post()
    codes = body.codes("work")
    if not codes:
        raise ValidationFailed(
            "work", Message("Choose the work to book (%(field)s).", field="work")
        )
    items = _work(codes)
    start = body.timestamp("start")
    if start is None:
        raise ValidationFailed("start", Message("%(field)s is required.", field="start"))
    booking = Booking(
        plate=body.string("plate", required=True),
        start=start,
        customer=Customer(
            name=body.string("name", required=True),
            phone=body.string("phone", required=True),
            email=body.string("email"),
            notify=tuple(body.codes("notify")),
            language=body.string("language"),
        ),
        items=tuple(Item(i["title"], i["labour_hours"], i["bay_kind"]) for i in items),
    )
    code = body.string("code")
    key, printed = _key(body)
    outcome = appointment_public.book_online(
        core(), found.slug, booking, code=code, idempotency_key=key, fingerprint=printed
    )
    return _private(reply(outcome))


# ------------------------------------------------------------ the link


def _link_reply(outcome: Outcome) -> Response:
    return _private(reply(outcome))


@blueprint.get("/appointment-link/<token>")
@customer_guess_limit
def link_view(token: str) -> ResponseReturnValue:
    """The customer's own appointment: its time, work and the shop's contact."""
    return _private(jsonify({"appointment": appointment_public.by_token(core(), token)}))


@blueprint.get("/appointment-link/<token>/slots")
@customer_guess_limit
def link_slots(token: str) -> ResponseReturnValue:
    """Free starts to move this appointment to (its own work, its own shop,
    itself not counted where it is now)."""
    facts = link_facts(core(), token)
    if facts is None:
        raise NotFound("This link is not valid (any more).")
    day = _day(facts.shop)
    starts = booking_public.free_starts(
        core(), facts.shop.id, day, facts.items, leave_out=facts.appointment_id
    )
    return _private(
        jsonify({"date": day.isoformat(), "slots": slot_list(starts, facts.shop.timezone)})
    )


def _link_command(
    token: str,
    command: Callable[..., Outcome],
    fields: Callable[[Body], dict[str, Any]] | None = None,
) -> Response:
    """One shape for the link's mutations: the body is read and the customer's
    post checked before its own fields (so a foreign post is refused whatever
    it holds), then the command runs under the body's Idempotency-Key."""
    body = json_body()
    check_customer_post()
    extra = fields(body) if fields is not None else {}
    key, printed = _key(body)
    return _link_reply(command(core(), token, idempotency_key=key, fingerprint=printed, **extra))


def _reason(body: Body) -> dict[str, Any]:
    return {"reason": body.string("reason", multiline=True)}


def _new_start(body: Body) -> dict[str, Any]:
    start = body.timestamp("start")
    if start is None:
        raise ValidationFailed("start", Message("%(field)s is required.", field="start"))
    return {"start": start}


@blueprint.post("/appointment-link/<token>/confirm")
@customer_guess_limit
def link_confirm(token: str) -> ResponseReturnValue:
    return _link_command(token, appointment_public.confirm_by_token)


@blueprint.post("/appointment-link/<token>/cancel")
@customer_guess_limit
def link_cancel(token: str) -> ResponseReturnValue:
    return _link_command(token, appointment_public.cancel_by_token, _reason)


@blueprint.post("/appointment-link/<token>/reschedule")
@customer_guess_limit
def link_reschedule(token: str) -> ResponseReturnValue:
    return _link_command(token, appointment_public.reschedule_by_token, _new_start)


@blueprint.post("/appointment-link/<token>/reminders/stop")
@customer_guess_limit
def link_stop_reminders(token: str) -> ResponseReturnValue:
    """No more reminders for this appointment (queued ones are not sent)."""
    return _link_command(token, appointment_public.opt_out_by_token)


# ------------------------------------------------------------------ OpenAPI


def openapi_paths() -> dict[str, Any]:
    """This module's part of the OpenAPI document (shared/web/openapi.py merges it)."""
    from shared.web import openapi as oa

    shop = {
        "name": "shop",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": booking_public.SLUG_MAX},
        "description": "The shop's slug, as in its booking page /book/{shop}.",
    }
    token = {
        "name": "token",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": booking_public.TOKEN_MAX},
        "description": "The appointment's link token (its manage_url ends with it).",
    }
    day = {
        "name": "date",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "format": "date"},
        "description": "A shop date from today to the shop's days_ahead (at most "
        f"{BOOKING_DAYS_SHOWN} days ahead).",
    }
    work = {
        "name": "work",
        "in": "query",
        "schema": {"type": "string"},
        "description": "The chosen work, comma-separated codes of the catalogue ("
        + ", ".join(BY_CODE)
        + "); the starts offered are those where all of it fits.",
    }
    public_post = (403, 404, 409, 413, 422, 429)
    page = (
        "From the booking page only: the page's CSRF token (X-CSRFToken, with the session "
        "cookie the page set) and no other Origin; 403 otherwise. "
    )
    link = (
        "The token in the path is the credential; unknown tokens count against the "
        "customer links' guessing limit. From a browser holding the session cookie the "
        "page's CSRF token is required. "
    )
    slots = oa._json_response(
        "Free starts only: no counts, nobody's booking.", oa.ref("FreeStarts")
    )
    changed = oa._json_response(
        "The customer's appointment after the change.",
        oa.ref("CustomerAppointment"),
        replayable=True,
    )

    def link_command(operation_id: str, summary: str, body: str, description: str) -> Any:
        return oa.operation(
            operation_id,
            summary,
            "customer",
            {200: changed},
            errors=public_post,
            security=oa.PUBLIC,
            parameters=[token],
            body=body,
            idempotent=True,
            description=link + description,
        )

    base = f"{oa.API}/book/{{shop}}"
    linked = f"{oa.API}/appointment-link/{{token}}"
    return {
        f"{base}/slots": {
            "get": oa.operation(
                "listPublicSlots",
                "The free starts of a day on the shop's booking page",
                "customer",
                {200: slots},
                errors=(404, 422, 429),
                security=oa.PUBLIC,
                parameters=[shop, day, work],
                description="404 when the shop does not exist or takes no bookings online. "
                f"Limited per address ({SLOTS_PER_ADDRESS}).",
            )
        },
        f"{base}/code": {
            "post": oa.operation(
                "requestBookingCode",
                "Text a booking code to a phone (shops that check phones)",
                "customer",
                {
                    202: oa._json_response(
                        "The code is queued as an urgent SMS.", oa.ref("BookingCodeSent")
                    )
                },
                errors=public_post,
                security=oa.PUBLIC,
                parameters=[shop],
                body="BookingCodeRequest",
                description=page + f"Limited per address ({CODES_PER_ADDRESS}) and per phone "
                f"({CODES_PER_PHONE}); the shop sends a phone one code a minute at most. "
                "Not idempotent: each request asks for a fresh code (the limits bound them).",
            )
        },
        f"{base}/appointments": {
            "post": oa.operation(
                "bookOnline",
                "Book on the shop's public page",
                "customer",
                {
                    201: oa._json_response(
                        "The customer's appointment, with its link (manage_url).",
                        oa.ref("CustomerAppointment"),
                        replayable=True,
                    )
                },
                errors=public_post,
                security=oa.PUBLIC,
                parameters=[shop],
                body="OnlineBooking",
                idempotent=True,
                description=page + "409 capacity_full with alternatives when the start was "
                "taken meanwhile; 422 code_invalid when the shop checks phones and the code is "
                f"missing, wrong (five tries), expired or used. Limited per address "
                f"({BOOKINGS_PER_ADDRESS}) and per phone ({BOOKINGS_PER_PHONE} bookings made).",
            )
        },
        linked: {
            "get": oa.operation(
                "getAppointmentByLink",
                "The customer's own appointment",
                "customer",
                {
                    200: oa._json_response(
                        "Only this appointment; not even its phone or e-mail.",
                        oa.ref("CustomerAppointmentReply"),
                    )
                },
                errors=(404, 429),
                security=oa.PUBLIC,
                parameters=[token],
            )
        },
        f"{linked}/slots": {
            "get": oa.operation(
                "listLinkSlots",
                "Free starts to move the appointment to",
                "customer",
                {200: slots},
                errors=(404, 422, 429),
                security=oa.PUBLIC,
                parameters=[token, day],
                description="Its own work at its own shop; the appointment itself is not "
                "counted where it is now.",
            )
        },
        f"{linked}/confirm": {
            "post": link_command(
                "confirmAppointmentByLink",
                "The customer confirms they will come",
                "LinkEmpty",
                "Confirming again changes nothing. 409 once cancelled, arrived or past.",
            )
        },
        f"{linked}/cancel": {
            "post": link_command(
                "cancelAppointmentByLink",
                "The customer cancels",
                "LinkCancel",
                "Before its start only (409 after); the reason is optional.",
            )
        },
        f"{linked}/reschedule": {
            "post": link_command(
                "rescheduleAppointmentByLink",
                "The customer moves the appointment to another free start",
                "LinkReschedule",
                "Before its start only; 409 capacity_full with alternatives when the shop "
                "cannot take it then; the moved appointment waits for confirmation again.",
            )
        },
        f"{linked}/reminders/stop": {
            "post": link_command(
                "stopAppointmentReminders",
                "No more reminders for this appointment",
                "LinkEmpty",
                "Queued reminders are not sent.",
            )
        },
    }


def openapi_schemas() -> dict[str, Any]:
    """The component schemas this module's paths refer to."""
    from shared.domain.notifications import CHANNELS
    from shared.services import appointments
    from shared.web import openapi as oa

    appointment = oa.obj(
        {
            "status": oa.enum_of(appointments.STATUSES),
            "start": oa.timestamp("On the shop's clock."),
            "end": oa.timestamp("The reception slot's end."),
            "plate": {"type": "string"},
            "items": oa.array(oa.obj({"title": {"type": "string"}})),
            "labour_hours": {"type": "number"},
            "confirmed": {"type": "boolean"},
            "reminders": {"type": "boolean", "description": "False once the customer opted out."},
            "version": oa.integer(minimum=1),
            "can_change": {
                "type": "boolean",
                "description": "Booked and before its start: confirm, move, cancel allowed.",
            },
            "manage_url": {"type": "string", "description": "This page: /a/{token}."},
            "shop": oa.obj(
                {
                    "name": {"type": "string"},
                    "slug": {"type": "string"},
                    "hotline": {"type": "string"},
                    "address": {"type": "string"},
                    "timezone": {"type": "string"},
                }
            ),
        }
    )
    phone = oa.text(40, "The customer's mobile phone.", min_length=1)
    return {
        "CustomerAppointment": appointment,
        "CustomerAppointmentReply": oa.obj({"appointment": oa.ref("CustomerAppointment")}),
        "FreeStarts": oa.obj(
            {
                "date": {"type": "string", "format": "date"},
                "slots": oa.array(
                    oa.obj(
                        {
                            "start": oa.timestamp("With the shop's UTC offset."),
                            "time": {"type": "string", "description": "HH:MM, shop's clock."},
                        }
                    )
                ),
            }
        ),
        "BookingCodeRequest": oa.obj({"phone": phone}),
        "BookingCodeSent": oa.obj({"sent": {"type": "boolean"}, "expires_at": oa.timestamp()}),
        "OnlineBooking": oa.obj(
            {
                "work": oa.array(oa.enum_of(tuple(BY_CODE)), minItems=1),
                "start": oa.timestamp("A free start (listPublicSlots), with its UTC offset."),
                "plate": oa.text(20, "Licence plate.", min_length=1),
                "name": oa.text(100, "The customer's name.", min_length=1),
                "phone": phone,
                "email": {"type": ["string", "null"], "maxLength": 200},
                "notify": oa.array(oa.enum_of(CHANNELS), maxItems=20),
                "language": {"type": "string", "maxLength": 10},
                "code": {
                    "type": ["string", "null"],
                    "maxLength": 10,
                    "description": "The texted code, when the shop checks phones.",
                },
            },
            ["work", "start", "plate", "name", "phone"],
        ),
        "LinkEmpty": oa.obj({}),
        "LinkCancel": oa.obj(
            {"reason": oa.text(appointments.REASON_MAX, "Why (optional).", multiline=True)}, []
        ),
        "LinkReschedule": oa.obj({"start": oa.timestamp("A free start (listLinkSlots).")}),
    }
