"""REST for appointments (issue 18; docs/API.md, CONTRACT v1.1 names).

- ``GET /api/v1/capacity?date=``: the day's labour per bay kind and the
  reception slots with their free places (staff).
- ``GET /api/v1/appointments?date=``: the day's appointments in time order,
  late ones marked (staff).
- ``POST /api/v1/appointments`` {plate, customer, vehicle, items, start}:
  201, or 409 ``capacity_full`` with ``alternatives`` (reception: advisor,
  manager, admin).
- ``GET /api/v1/appointments/{id}``; ``POST …/{id}/check-in`` (201, the
  order), ``…/cancel``, ``…/reschedule``, ``…/no-show``.

Views only parse and authorise; ``shared.services.appointments`` owns the rules.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from shared.domain import errors
from shared.domain.bays import BAY_KINDS
from shared.domain.new_order import Customer, Vehicle
from shared.domain.notifications import CHANNELS
from shared.domain.order import MAX_TEXT
from shared.domain.policy import Command
from shared.services import appointments
from shared.services.appointments import Booking, Item
from shared.services.auth import Principal
from shared.web.access import STAFF_ROLES, core, current_principal, require
from shared.web.http_commands import command_request, reply
from shared.web.parsing import INT64_MAX, Body, json_body, parse_date, query_text

blueprint = Blueprint("api_appointments", __name__, url_prefix="/api/v1")

WRITERS = Command.RECEPTION


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None
    return principal


def _day() -> date:
    """``?date=`` (a shop date), default the shop's today."""
    raw = query_text("date")
    if raw is None:
        return appointments.today(core(), _principal().shop_id)
    day = parse_date("date", raw)
    if not 2000 <= day.year <= 2999:
        raise errors.ValidationFailed(
            "date", errors.Message("%(field)s is out of range.", field="date")
        )
    return day


def booking_from(body: Body) -> Booking:
    """The booking fields of a request body (the desk and the public page
    read the same ones)."""
    customer = body.obj("customer")
    vehicle = body.obj("vehicle")
    items = tuple(
        Item(
            title=i.string("title", required=True),
            labour_hours=i.number("labour_hours") or 0.0,
            bay_kind=i.string("bay_kind") or "general",
        )
        for i in body.objects("items")
    )
    plate = body.string("plate", required=True)
    start = body.timestamp("start")
    if start is None:
        raise errors.ValidationFailed(
            "start", errors.Message("%(field)s is required.", field="start")
        )
    found = Booking(
        plate=plate,
        start=start,
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
    )
    appointments.check_items([i.as_json() for i in items])
    return found


@blueprint.get("/capacity")
@require(STAFF_ROLES)
def capacity() -> ResponseReturnValue:
    return jsonify(appointments.capacity_view(core(), _principal().shop_id, _day()))


@blueprint.get("/appointments")
@require(STAFF_ROLES)
def list_appointments() -> ResponseReturnValue:
    day = _day()
    found = appointments.list_day(core(), _principal().shop_id, day)
    return jsonify({"date": day.isoformat(), "appointments": found})


@blueprint.post("/appointments")
@require(WRITERS)
def book() -> ResponseReturnValue:
    body = json_body()
    booking = booking_from(body)
    source = body.string("source", default="api")
    if source not in ("desk", "api"):
        raise errors.ValidationFailed(
            "source", errors.Message("%(field)s must be desk or api.", field="source")
        )
    request = command_request(_principal(), body)
    return reply(appointments.book(core(), request, booking, source=source))


@blueprint.get("/appointments/<int:appointment_id>")
@require(STAFF_ROLES)
def get_appointment(appointment_id: int) -> ResponseReturnValue:
    shop_id = _principal().shop_id
    found = appointments.get(core(), shop_id, appointment_id)
    found["events"] = appointments.history(core(), shop_id, appointment_id)
    return jsonify(found)


@blueprint.post("/appointments/<int:appointment_id>/check-in")
@require(WRITERS)
def check_in(appointment_id: int) -> ResponseReturnValue:
    body = json_body()
    version = body.required_integer("version")
    request = command_request(_principal(), body)
    return reply(appointments.check_in(core(), request, appointment_id, version=version))


@blueprint.post("/appointments/<int:appointment_id>/cancel")
@require(WRITERS)
def cancel(appointment_id: int) -> ResponseReturnValue:
    body = json_body()
    version = body.required_integer("version")
    reason = body.string("reason", required=True, multiline=True)
    request = command_request(_principal(), body)
    return reply(
        appointments.cancel(core(), request, appointment_id, reason=reason, version=version)
    )


@blueprint.post("/appointments/<int:appointment_id>/reschedule")
@require(WRITERS)
def reschedule(appointment_id: int) -> ResponseReturnValue:
    body = json_body()
    version = body.required_integer("version")
    start = body.timestamp("start")
    if start is None:
        raise errors.ValidationFailed(
            "start", errors.Message("%(field)s is required.", field="start")
        )
    request = command_request(_principal(), body)
    return reply(
        appointments.reschedule(core(), request, appointment_id, start=start, version=version)
    )


@blueprint.post("/appointments/<int:appointment_id>/no-show")
@require(WRITERS)
def no_show(appointment_id: int) -> ResponseReturnValue:
    body = json_body()
    version = body.required_integer("version")
    request = command_request(_principal(), body)
    return reply(appointments.mark_no_show(core(), request, appointment_id, version=version))


# ------------------------------------------------------------------ OpenAPI


def openapi_paths() -> dict[str, Any]:
    """This module's part of the OpenAPI document (shared/web/openapi.py merges it)."""
    from shared.web import openapi as oa

    appointment_id = {
        "name": "appointment_id",
        "in": "path",
        "required": True,
        "schema": oa.integer(minimum=1, maximum=INT64_MAX),
    }
    day = {
        "name": "date",
        "in": "query",
        "schema": {"type": "string", "format": "date", "pattern": r"^2\d{3}-\d{2}-\d{2}$"},
        "description": "A shop date (YYYY-MM-DD, years 2000 to 2999); default: the shop's today.",
    }
    writers = "Roles: admin, manager, advisor. "
    readers = "Roles: staff (admin, manager, advisor, foreman, technician). "

    def command(
        operation_id: str, summary: str, body: str, description: str, status: int = 200
    ) -> dict[str, Any]:
        success = (
            oa._json_response("The repair order opened.", oa.ref("Order"), replayable=True)
            if status == 201
            else oa._json_response("The appointment.", oa.ref("Appointment"), replayable=True)
        )
        return oa.operation(
            operation_id,
            summary,
            "appointments",
            {status: success},
            errors=oa.STAFF_WRITE_ERRORS,
            security=oa.WRITE_SECURITY,
            parameters=[appointment_id],
            body=body,
            idempotent=True,
            description=writers + description,
        )

    return {
        f"{oa.API}/capacity": {
            "get": oa.operation(
                "getCapacity",
                "What the shop can still take on a day",
                "appointments",
                {200: oa._json_response("The day's capacity.", oa.ref("DayCapacity"))},
                errors=(401, 403, 422, 429),
                parameters=[day],
                description=readers + "Labour hours per bay kind (total from the bays in "
                "service and the technicians at work, held by active work, booked, free after "
                "the walk-in share) and the reception slots (15 minutes) with their places.",
            )
        },
        f"{oa.API}/appointments": {
            "get": oa.operation(
                "listAppointments",
                "The day's appointments in time order",
                "appointments",
                {200: oa._json_response("Every status.", oa.ref("AppointmentList"))},
                errors=(401, 403, 422, 429),
                parameters=[day],
                description=readers + "late: booked and its start has passed; no_show_due: "
                "past its start and the grace period.",
            ),
            "post": oa.operation(
                "bookAppointment",
                "Book a car into a reception slot",
                "appointments",
                {
                    201: oa._json_response(
                        "The appointment.", oa.ref("Appointment"), replayable=True
                    )
                },
                errors=oa.STAFF_WRITE_ERRORS,
                security=oa.WRITE_SECURITY,
                body="AppointmentCreate",
                idempotent=True,
                description=writers + "409 capacity_full (with reason: closed, too_soon, "
                "too_far, not_a_slot, reception_full or labour_full, and alternatives: the "
                "nearest starts where the work fits) when the shop cannot take it then.",
            ),
        },
        f"{oa.API}/appointments/{{appointment_id}}": {
            "get": oa.operation(
                "getAppointment",
                "One appointment with its history",
                "appointments",
                {200: oa._json_response("The appointment.", oa.ref("AppointmentDetail"))},
                errors=(401, 403, 404, 429),
                parameters=[appointment_id],
                description=readers,
            )
        },
        f"{oa.API}/appointments/{{appointment_id}}/check-in": {
            "post": command(
                "checkInAppointment",
                "The car is here: open its repair order from the booking",
                "AppointmentVersion",
                "One command: the order opened prefilled (plate, customer, vehicle, complaint, "
                "work, the day's queue number, the promise the shop-load engine suggests) and "
                "the appointment checked in with its order_id. A second check-in is 409 with "
                "the appointment.",
                status=201,
            )
        },
        f"{oa.API}/appointments/{{appointment_id}}/cancel": {
            "post": command(
                "cancelAppointment",
                "Cancel an appointment",
                "AppointmentCancel",
                "The reason is required; the capacity returns.",
            )
        },
        f"{oa.API}/appointments/{{appointment_id}}/reschedule": {
            "post": command(
                "rescheduleAppointment",
                "Move an appointment to another start",
                "AppointmentReschedule",
                "409 capacity_full with alternatives when the shop cannot take it then.",
            )
        },
        f"{oa.API}/appointments/{{appointment_id}}/no-show": {
            "post": command(
                "markAppointmentNoShow",
                "The car did not come",
                "AppointmentVersion",
                "Only once its start has passed (409 before). The capacity returns.",
            )
        },
    }


def openapi_schemas() -> dict[str, Any]:
    """The component schemas this module's paths refer to."""
    from shared.web import openapi as oa

    nullable_int = {"type": ["integer", "null"]}
    item = oa.obj(
        {
            "title": {"type": "string"},
            "labour_hours": {"type": "number", "minimum": 0},
            "bay_kind": oa.enum_of(BAY_KINDS),
        }
    )
    appointment = {
        "id": oa.integer(),
        "status": oa.enum_of(appointments.STATUSES),
        "start": oa.timestamp("On the shop's clock."),
        "end": oa.timestamp("The reception slot's end."),
        "plate": {"type": "string"},
        "customer": oa.obj(
            {
                "name": {"type": "string"},
                "phone": {"type": "string"},
                "email": {"type": "string"},
                "notify": oa.array(oa.enum_of(CHANNELS)),
                "language": {"type": "string"},
            }
        ),
        "vehicle": oa.obj(
            {"model": {"type": "string"}, "vin": {"type": "string"}, "mileage": nullable_int}
        ),
        "complaint": {"type": "string"},
        "items": oa.array(item),
        "labour_hours": {"type": "number"},
        "version": oa.integer(minimum=1),
        "source": oa.enum_of(appointments.SOURCES),
        "confirmed": {"type": "boolean", "description": "The customer confirmed from the link."},
        "order_id": {**nullable_int, "description": "Checked in: the repair order."},
        "manage_url": {"type": "string", "description": "The customer's own page (/a/…)."},
        "late": {"type": "boolean"},
        "no_show_due": {"type": "boolean"},
        "cancel_reason": {"type": "string"},
        "reminders": {"type": "boolean", "description": "False once the customer opted out."},
        "created_at": oa.timestamp(),
    }
    hours = {"type": "number"}
    kind_hours = oa.obj({"total": hours, "held": hours, "booked": hours, "free": hours})
    version = oa.integer("The appointment's version you last saw.", minimum=1)
    order = oa.request_schemas()["OrderCreate"]["properties"]
    start = {
        **oa.timestamp(),
        "description": "A slot's start, ISO 8601 with a UTC offset (GET /capacity lists them).",
    }
    return {
        "Appointment": oa.obj(appointment),
        "AppointmentDetail": oa.obj(
            {
                **appointment,
                "events": oa.array(
                    oa.obj(
                        {
                            "type": {"type": "string"},
                            "at": oa.timestamp(),
                            "actor": {"type": "string"},
                            "data": {"type": "object"},
                        }
                    )
                ),
            }
        ),
        "AppointmentList": oa.obj(
            {
                "date": {"type": "string", "format": "date"},
                "appointments": oa.array(oa.ref("Appointment")),
            }
        ),
        "DayCapacity": oa.obj(
            {
                "date": {"type": "string", "format": "date"},
                "open": {"type": "boolean"},
                "technician_hours": hours,
                "technician_free_hours": hours,
                "labour": {"type": "object", "additionalProperties": kind_hours},
                "slots": oa.array(
                    oa.obj(
                        {
                            "start": oa.timestamp(),
                            "end": oa.timestamp(),
                            "capacity": oa.integer(minimum=0),
                            "booked": oa.integer(minimum=0),
                            "free": oa.integer(minimum=0),
                        }
                    )
                ),
            }
        ),
        "AppointmentCreate": oa.obj(
            {
                "plate": {
                    **oa.text(20, "Licence plate (stored normalised).", min_length=1),
                    "pattern": oa.PLATE_PATTERN,
                },
                "start": start,
                # The order's own (it becomes one at check-in): consent to a
                # channel needs its address, the schema says so too.
                "customer": copy.deepcopy(order["customer"]),
                "vehicle": copy.deepcopy(order["vehicle"]),
                "complaint": oa.text(MAX_TEXT, multiline=True),
                "items": oa.array(
                    oa.obj(
                        {
                            "title": oa.text(200, min_length=1),
                            "labour_hours": {"type": "number", "minimum": 0, "maximum": 200},
                            "bay_kind": oa.enum_of(BAY_KINDS),
                        },
                        ["title"],
                    ),
                    maxItems=appointments.MAX_ITEMS,
                ),
                "source": {"type": "string", "enum": ["desk", "api"]},
            },
            ["plate", "start"],
        ),
        "AppointmentVersion": oa.obj({"version": version}),
        "AppointmentFigures": oa.obj(
            {
                "booked": oa.integer("Appointments of the range's days, cancelled ones aside."),
                "checked_in": oa.integer(),
                "no_shows": oa.integer(),
                "show_rate": {
                    "type": ["number", "null"],
                    "description": "Checked in of those checked in or no-shows; null: none yet.",
                },
            },
            description="The range's appointments by their own day.",
        ),
        "AppointmentCancel": oa.obj(
            {
                "version": version,
                "reason": {
                    **oa.text(
                        appointments.REASON_MAX, "Why (required).", min_length=1, multiline=True
                    ),
                    "allOf": [{"pattern": r"\S"}],
                },
            }
        ),
        "AppointmentReschedule": oa.obj({"version": version, "start": start}),
    }
