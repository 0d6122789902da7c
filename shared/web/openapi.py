"""The OpenAPI 3.1 document of the REST API (served at /api/v1/openapi.json).

Enumerations (stages, pause reasons, event types, channels, device kinds) are
read from the domain and the services, never typed out again, so the document
cannot drift from the rules. Event payload schemas are generated from the event
dataclasses for the same reason. tests/test_openapi.py checks the document
against the Flask url_map and against real responses.
"""

from __future__ import annotations

import types
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import Any, Union, get_args, get_origin, get_type_hints

from shared.config import LOCALES, Settings
from shared.domain.bays import BAY_KINDS
from shared.domain.events import EVENT_TYPES, WorkItem
from shared.domain.extra_work import DEFAULT_VALID_FOR
from shared.domain.holds import CLEARED_WHY, PART_ARRIVED, PART_ORDERED, PART_STATUSES
from shared.domain.notifications import CHANNELS, EMAIL_PATTERN
from shared.domain.order import DECISION_CHANNELS, MAX_TEXT, PRIORITIES, QUOTE_STATUSES
from shared.domain.plates import PROVINCES, SUFFIXES
from shared.domain.promise import CAUSES, RISKS
from shared.domain.stages import CheckLevel, PauseReason, Stage
from shared.domain.text import BIDI_CONTROLS, LINE_SEPARATORS, MULTILINE_CONTROLS
from shared.services.auth import TOKEN_ROLES
from shared.services.commands import IDEMPOTENCY_KEY_MAX
from shared.services.devices import DEVICE_KINDS
from shared.services.photos import MAX_PHOTO_BYTES
from shared.services.queries import EVENTS_AFTER_MAX
from shared.web.parsing import INT64_MAX, INT64_MIN, TIME_WINDOW

Schema = dict[str, Any]

# The body limit of every request but a photo upload.
MAX_BODY_BYTES: int = Settings.max_body_bytes

API = "/api/v1"
JSON = "application/json"
PROBLEM = "application/problem+json"

# Who may call: a bearer token, or the staff session cookie (whose mutations
# must also carry the CSRF token); public operations override with [].
READ_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"sessionCookie": []}]
WRITE_SECURITY: list[dict[str, list[str]]] = [
    {"bearerAuth": []},
    {"sessionCookie": [], "csrfToken": []},
]
PUBLIC: list[dict[str, list[str]]] = []

ERROR_RESPONSES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "PayloadTooLarge",
    422: "ValidationError",
    429: "RateLimited",
}
STAFF_READ_ERRORS = (401, 403, 429)
STAFF_WRITE_ERRORS = (401, 403, 404, 409, 413, 422, 429)
# Where a parts request may be moved to (shared/domain/parts.py).
PART_MOVES_TO = (PART_ORDERED, PART_ARRIVED)
# The only pause reasons a person clears: "other:<n>" (parts clear on arrival,
# approvals on the customer's decision or expiry).
OTHER_REASON_KEY = "^other:[0-9]+$"
QUOTE_VALID_MINUTES = int(DEFAULT_VALID_FOR.total_seconds() // 60)
PAIRING_STATUSES = ("pending", "approved", "expired", "denied", "active", "revoked")
# A failed handover check (ready → in_progress) is recorded with this level.
HANDOVER_LEVEL = "handover"


# ------------------------------------------------------------ schema helpers


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def enum_of(values: Any, *, nullable: bool = False) -> Schema:
    """A string enum from an Enum class or a sequence, optionally with null."""
    listed: list[Any] = [v.value if isinstance(v, Enum) else v for v in values]
    if nullable:
        return {"type": ["string", "null"], "enum": [*listed, None]}
    return {"type": "string", "enum": listed}


def _character_class(chars: str) -> str:
    """The inside of a pattern's ``[...]`` for ``chars``, as ranges: BMP code
    points written ``\\uXXXX`` (read alike by ECMA-262, Python and Rust
    regular expressions), the others as themselves."""

    def spelled(point: int) -> str:
        return f"\\u{point:04x}" if point <= 0xFFFF else chr(point)

    points = sorted({ord(c) for c in chars})
    parts: list[str] = []
    start = previous = points[0]
    for point in [*points[1:], -1]:
        if point == previous + 1:
            previous = point
            continue
        parts.append(
            spelled(start) if start == previous else f"{spelled(start)}-{spelled(previous)}"
        )
        start = previous = point
    return "".join(parts)


def _refused_characters(*, multiline: bool) -> str:
    """The characters shared.domain.text refuses in stored text: C0 and C1
    controls and DEL (a multi-line field keeps line feed and tab), line and
    paragraph separators, bidirectional controls, noncharacters. Lone
    surrogates are refused too; they are no Unicode text, so no pattern can
    name them (a JSON body can only spell one as an escape)."""
    controls = "".join(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)))
    if multiline:
        controls = "".join(c for c in controls if c not in MULTILINE_CONTROLS)
    noncharacters = "".join(chr(c) for c in range(0xFDD0, 0xFDF0)) + "".join(
        chr(plane << 16 | low) for plane in range(17) for low in (0xFFFE, 0xFFFF)
    )
    return _character_class(controls + LINE_SEPARATORS + BIDI_CONTROLS + noncharacters)


SINGLE_LINE_PATTERN = f"^[^{_refused_characters(multiline=False)}]*$"
MULTI_LINE_PATTERN = f"^[^{_refused_characters(multiline=True)}]*$"
# What a plate must look like once the server has normalised it (NFKC, upper
# case, separators dropped); a plate typed in this shape is always accepted.
PLATE_PATTERN = f"^[{PROVINCES}]?[A-Za-z0-9]{{4,8}}[{SUFFIXES}]?$"


def text(
    max_length: int, description: str = "", *, min_length: int = 0, multiline: bool = False
) -> Schema:
    """A string a client sends: bounded, and held to the stored-text rule."""
    schema: Schema = {
        "type": "string",
        "maxLength": max_length,
        "pattern": MULTI_LINE_PATTERN if multiline else SINGLE_LINE_PATTERN,
    }
    if min_length:
        schema["minLength"] = min_length
    if description:
        schema["description"] = description
    return schema


def timestamp(description: str = "", *, nullable: bool = False) -> Schema:
    schema: Schema = {"type": ["string", "null"] if nullable else "string", "format": "date-time"}
    if description:
        schema["description"] = description
    return schema


def integer(description: str = "", **limits: int) -> Schema:
    schema: Schema = {"type": "integer", **limits}
    if description:
        schema["description"] = description
    return schema


def obj(properties: dict[str, Schema], required: list[str] | None = None, **more: Any) -> Schema:
    """An object; ``required=None`` means every property is always present."""
    schema: Schema = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    schema.update(more)
    return schema


def array(items: Schema, **more: Any) -> Schema:
    return {"type": "array", "items": items, **more}


# ------------------------------------------------------------ event schemas

# Fields whose Python type is plain ``str`` but whose values are a closed set.
_EVENT_FIELD_OVERRIDES: dict[str, Schema] = {
    "level": enum_of([*(c.value for c in CheckLevel), HANDOVER_LEVEL]),
    "channel": enum_of(DECISION_CHANNELS),
    "priority": enum_of(PRIORITIES),
    "rating": integer(minimum=1, maximum=5),
    "why": enum_of(CLEARED_WHY),
    "status": enum_of(PART_MOVES_TO),
}


def _schema_for_type(hint: Any) -> Schema:
    """JSON schema of one event dataclass field's annotation."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(hint) if a is not type(None)]
        inner = _schema_for_type(members[0])
        if "enum" in inner:
            return {"type": ["string", "null"], "enum": [*inner["enum"], None]}
        if "type" in inner:
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}
    if origin is tuple:
        return array(_schema_for_type(get_args(hint)[0]))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return enum_of(hint)
    simple: dict[Any, Schema] = {
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        float: {"type": "number"},
        str: {"type": "string"},
        datetime: {"type": "string", "format": "date-time"},
        WorkItem: ref("WorkItem"),
    }
    if hint in simple:
        return dict(simple[hint])
    raise TypeError(f"no schema for event field type {hint!r}")  # pragma: no cover


def _event_name(type_name: str) -> str:
    return "".join(part.title() for part in type_name.split("_"))


def event_schemas() -> dict[str, Schema]:
    """One ``<Type>Event`` and ``<Type>Data`` schema per event type, and the
    ``Event`` union discriminated by ``type``."""
    schemas: dict[str, Schema] = {}
    mapping: dict[str, str] = {}
    for type_name, cls in EVENT_TYPES.items():
        hints = get_type_hints(cls)
        properties = {
            f.name: dict(_EVENT_FIELD_OVERRIDES.get(f.name) or _schema_for_type(hints[f.name]))
            for f in fields(cls)
            if f.name != "at"
        }
        name = _event_name(type_name)
        doc = " ".join((cls.__doc__ or "").split())
        schemas[f"{name}Data"] = obj(properties, description=doc)
        schemas[f"{name}Event"] = obj(
            {
                "seq": integer("The shop's sequence number of this event (gapless, ascending)."),
                "type": {"type": "string", "const": type_name},
                "order_id": integer(),
                "at": timestamp(),
                "actor": {"type": "string", "description": "Who did it (token, user or device)."},
                "data": ref(f"{name}Data"),
            },
            description=doc,
        )
        mapping[type_name] = f"#/components/schemas/{name}Event"
    schemas["Event"] = {
        "description": "One entry of the append-only event log; docs/EVENTS.md describes each.",
        "oneOf": [{"$ref": target} for target in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }
    return schemas


# ------------------------------------------------------------ resource schemas


def _quote_properties(*, for_staff: bool) -> dict[str, Schema]:
    """A quote's fields; the customer's view leaves out how the decision was
    taken (``channel``, ``taken_by``)."""
    properties: dict[str, Schema] = {
        "id": integer("Quote id, unique within its order."),
        "description": {"type": "string"},
        "labour_hours": {"type": "number"},
        "price_cents": integer("Price in the shop's currency, in cents."),
        "status": {
            **enum_of(QUOTE_STATUSES),
            "description": "expired: nobody decided in the shop's quote_valid_minutes; "
            "the work is not done and the car no longer waits for it.",
        },
        "version": integer(
            "Starts at 1, one up with each revision while pending; send as quote_version "
            "when deciding or revising.",
            minimum=1,
        ),
        "channel": enum_of(DECISION_CHANNELS, nullable=True),
        "decided_at": timestamp("When it was decided, or when it expired.", nullable=True),
        "expires_at": timestamp(
            "Until when the customer may decide (set by the quote and each revision).",
            nullable=True,
        ),
        "decided_version": {
            "type": ["integer", "null"],
            "description": "The version the decision was taken on.",
        },
        "taken_by": {
            "type": "string",
            "description": "The staff member who took a phone or in-person decision; empty "
            "for the customer's page and while undecided.",
        },
    }
    if not for_staff:
        del properties["channel"], properties["taken_by"]
    return properties


def pause_item_schema() -> Schema:
    return obj(
        {
            "key": {
                "type": "string",
                "description": "What clears it: parts:<part id> (that part arrives), "
                "approval:<quote id> (that quote is decided or expires), other:<n> (a "
                "technician or the foreman clears it, or resumes).",
                "examples": ["parts:1", "approval:2", "other:7"],
            },
            "reason": enum_of(PauseReason),
            "note": {"type": "string", "description": "What is needed, the quote, the note."},
            "expected_at": timestamp("When it should end (a part's eta), if known.", nullable=True),
        },
        description="One open reason a paused order waits for.",
    )


def part_schema() -> Schema:
    return obj(
        {
            "id": integer("Parts request id, unique within its order."),
            "description": {"type": "string"},
            "status": enum_of(PART_STATUSES),
            "eta": timestamp("Expected arrival, if known.", nullable=True),
            "requested_at": timestamp(nullable=True),
            "arrived_at": timestamp(nullable=True),
        },
        description="Parts requested on the floor (领料/订件) and where they are.",
    )


def order_schema() -> Schema:
    """The staff view (shared/services/views.py ``staff_view``)."""
    return obj(
        {
            "id": integer(),
            "number": integer("The day's queue number (受理号码)."),
            "plate": {"type": "string"},
            "stage": enum_of(Stage),
            "pause_reason": {
                **enum_of(PauseReason, nullable=True),
                "description": "The first open reason (pause_reasons[0]), for one-line screens.",
            },
            "pause_note": {"type": "string", "description": "The first open reason's note."},
            "pause_reasons": array(
                ref("PauseItem"),
                description="Every reason a paused order waits for, oldest first; empty "
                "unless paused.",
            ),
            "parts": array(ref("Part"), description="The order's parts requests."),
            "version": integer("Send back with every change (optimistic concurrency).", minimum=1),
            "bay": {"type": ["string", "null"]},
            "technicians": array(obj({"id": integer(), "name": {"type": "string"}})),
            "promised_at": timestamp("Promised completion time.", nullable=True),
            "eta": timestamp(
                "Estimated completion (预计完工): the shop-load engine's, re-planned after "
                "every change and every minute.",
                nullable=True,
            ),
            "late": {"type": "boolean"},
            "at_risk": {"type": "boolean"},
            "risk": {
                "enum": list(RISKS),
                "description": "The engine's last verdict on the promise: '' on time, "
                "at_risk, late.",
            },
            "risk_cause": {
                "enum": list(CAUSES),
                "description": "What puts the promise at risk (with risk): clock_overrun, "
                "parts, approval, queue.",
            },
            "promise_change": ref("PromiseChangeNote"),
            "waiting": {"type": "boolean", "description": "The customer waits in the lounge."},
            "wash": {"type": "boolean"},
            "priority": enum_of(PRIORITIES),
            "customer": obj(
                {
                    "name": {"type": "string"},
                    "phone": {"type": "string"},
                    "email": {"type": "string"},
                    "notify": {
                        "type": "array",
                        "items": enum_of(CHANNELS),
                        "description": "Channels the customer may be told on now "
                        "(consented at reception; empty after an opt-out).",
                    },
                    "language": {
                        "type": "string",
                        "description": "The language messages are written in (empty: the shop's).",
                    },
                    "opted_out": {"type": "boolean"},
                }
            ),
            "vehicle": obj(
                {
                    "model": {"type": "string"},
                    "vin": {"type": "string"},
                    "mileage": {"type": ["integer", "null"]},
                }
            ),
            "complaint": {"type": "string"},
            "items": array(ref("WorkItem")),
            "labour_hours": {
                "type": "number",
                "description": "Items plus approved additional work.",
            },
            "quotes": array(ref("Quote")),
            "check_level": enum_of(CheckLevel, nullable=True),
            "rework_count": integer(minimum=0),
            "stage_entered_at": timestamp(nullable=True),
            "ready_at": timestamp(nullable=True),
            "created_at": timestamp(),
            "updated_at": timestamp(),
            "customer_url": {
                "type": "string",
                "format": "uri",
                "description": "The customer's page (encoded in the ticket's QR code).",
            },
            "business_day": {
                "type": "string",
                "format": "date",
                "description": "The shop's day (its time zone) that number belongs to; a car "
                "carried over from an earlier day keeps its number and the screens mark it "
                "with this day.",
            },
        },
        description="A repair order as staff, boards and integrations see it.",
    )


def customer_order_schema() -> Schema:
    """``customer_view``: no phone, VIN, names or prices of other orders."""
    properties: dict[str, Schema] = {
        "id": integer(),
        "number": integer(),
        "plate": {"type": "string"},
        "stage": enum_of(Stage),
        "pause_reason": enum_of(PauseReason, nullable=True),
        "pause_reasons": array(
            obj(
                {
                    "reason": enum_of(PauseReason),
                    "expected_at": timestamp(nullable=True),
                }
            ),
            description="What the car waits for and when it should end; no notes.",
        ),
        "version": integer(),
        "promised_at": timestamp(nullable=True),
        "eta": timestamp(nullable=True),
        "late": {"type": "boolean"},
        "promise_change": ref("PromiseChangeNote"),
        "ready": {"type": "boolean"},
        "vehicle": obj({"model": {"type": "string"}}),
        "items": array(obj({"title": {"type": "string"}})),
        "quotes": array(ref("CustomerQuote")),
        "wash": {"type": "boolean"},
        "stage_entered_at": timestamp(nullable=True),
        "updated_at": timestamp(),
        "timeline": array(
            obj({"stage": enum_of(Stage), "at": timestamp()}),
            description="Stage changes; in REST replies and snapshots, not in live messages.",
        ),
    }
    required = [name for name in properties if name != "timeline"]
    return obj(properties, required, description="The customer's own order, redacted.")


def lounge_order_schema() -> Schema:
    return obj(
        {
            "id": integer(),
            "number": integer("The queue number of its business_day."),
            "business_day": {
                "type": "string",
                "format": "date",
                "description": "The shop's day the number was given; the TV marks a car "
                "whose day is not today.",
            },
            "plate_masked": {"type": "string", "examples": ["粤B·***45"]},
            "plate_masked_more": {
                "type": ["string", "null"],
                "description": "One character more, never the whole plate (at least two "
                "stay hidden), sent only while another car in the shop has the same "
                "plate_masked (else null); the TV shows it for those cars.",
                "examples": ["粤B·**345"],
            },
            "stage": enum_of(Stage),
            "pause_reasons": array(
                enum_of(PauseReason), description="What the car waits for, as codes only."
            ),
            "eta": timestamp(nullable=True),
            "ready": {"type": "boolean"},
        },
        description="What the public lounge TV receives (Socket.IO only): no names, no prices.",
    )


def lounge_queue_schema() -> Schema:
    """``queries.lounge_queue_json``: the lounge snapshot's ``queue`` and the
    answer to its ``queue`` message."""
    minutes = {"type": ["integer", "null"], "minimum": 0, "maximum": 999}
    return obj(
        {
            "ahead": integer(
                "Cars the shop-load engine starts before a car checking in now; -1 when "
                "it cannot be told (the TV shows a dash).",
                minimum=-1,
            ),
            "low_minutes": {
                **minutes,
                "description": "Low end of the wait before work starts, in wall minutes "
                "(null with after, or when unknown).",
            },
            "high_minutes": {
                **minutes,
                "description": "High end of the wait; never above the shop's "
                "lounge_wait_cap_minutes (default 180).",
            },
            "after": timestamp(
                "Set instead of the minutes when the range passes the cap: when work "
                "should start, in the shop's time zone (the TV says 'today, after HH:MM', "
                "'tomorrow, after HH:MM' or the date).",
                nullable=True,
            ),
        },
        description="The lounge's reception queue (Socket.IO only): cars ahead and an "
        "honest range, or past the shop's cap the time work should start.",
    )


def problem_schema(order: str = "Order") -> Schema:
    """Problem details; ``order`` is the view a 409 carries for this audience."""
    return obj(
        {
            "type": {"type": "string"},
            "status": integer(),
            "title": {"type": "string"},
            "detail": {"type": "string"},
            "code": {
                "type": "string",
                "description": "Stable machine-readable code; see docs/API.md for the list.",
            },
            "field": {"type": "string", "description": "validation_error: the offending field."},
            "allowed": array(
                enum_of(Stage), description="illegal_transition: the stages allowed next."
            ),
            "order": {**ref(order), "description": "On 409: the order as it is now."},
            "interval": integer(
                "slow_down: the seconds to wait between polls from now on.", minimum=1
            ),
            "bay": {"type": "string", "description": "bay_occupied: the bay asked for."},
            "capacity": integer("bay_occupied: how many cars the bay takes.", minimum=1),
            "held_by": {
                "anyOf": [ref("BayHolder"), {"type": "null"}],
                "description": "bay_occupied: the first car on the bay.",
            },
            "holders": array(ref("BayHolder"), description="bay_occupied: every car on the bay."),
            "reason": {
                "type": "string",
                "description": "bay_out_of_service: why the bay is out of service.",
            },
            "quote_id": integer("quote_expired, quote_locked, already_decided: the quote refused."),
            "quote_version": integer(
                "stale_version on a quote: the quote's current version.", minimum=1
            ),
            "pause_reasons": array(
                {"type": "string"},
                description="approval_pending, parts_pending: the keys of the reasons only "
                "their own event clears (approval:<quote id>, parts:<part id>).",
            ),
            "alternatives": array(
                timestamp(),
                description="capacity_full: the nearest slot starts where the work fits "
                "(reason: closed, too_soon, too_far, not_a_slot, reception_full, labour_full).",
            ),
            "appointment": {
                "type": "object",
                "description": "On 409 of an appointment command: the appointment as it is now.",
            },
        },
        ["type", "status", "title", "detail", "code"],
        description="RFC 9457 problem details.",
    )


def _optional_timestamp(what: str) -> Schema:
    """A time a client may send, or leave empty."""
    return {
        "anyOf": [timestamp(), {"type": "string", "maxLength": 0}],
        "description": f"{what}: ISO 8601 with a UTC offset, within {TIME_WINDOW.days} days "
        "(five years) of the server's clock; empty for none.",
    }


def request_schemas() -> dict[str, Schema]:
    version = integer("The order's version you last saw.", minimum=1)
    return {
        "OrderCreate": obj(
            {
                "plate": {
                    **text(
                        20,
                        "Licence plate: a province character (optional), 4-8 letters or "
                        "digits, an optional suffix such as 挂 or 学. Stored normalised: "
                        "upper case, full-width letters folded, separators (space, ·, -, .) "
                        "dropped.",
                        min_length=1,
                    ),
                    "pattern": PLATE_PATTERN,
                },
                "customer": obj(
                    {
                        "name": text(100),
                        "phone": text(40),
                        "email": {
                            "type": "string",
                            "maxLength": 200,
                            "pattern": EMAIL_PATTERN,
                            "description": "For e-mail notifications (empty: none).",
                        },
                        "notify": array(
                            enum_of(CHANNELS),
                            maxItems=20,
                            description="Channels the customer consents to be told on "
                            "(docs/NOTIFICATIONS.md); sms needs phone, email needs email; "
                            "wechat is bound when the customer opens the tracking page "
                            "inside WeChat.",
                        ),
                        "language": enum_of(("", *LOCALES)),
                    },
                    [],
                    # Consent to a channel needs its address (a refusal
                    # naming customer.notify otherwise).
                    allOf=[
                        {
                            "if": {
                                "properties": {
                                    "notify": {"type": "array", "contains": {"const": "email"}}
                                },
                                "required": ["notify"],
                            },
                            "then": {
                                "properties": {"email": {"type": "string", "minLength": 3}},
                                "required": ["email"],
                            },
                        },
                        {
                            "if": {
                                "properties": {
                                    "notify": {"type": "array", "contains": {"const": "sms"}}
                                },
                                "required": ["notify"],
                            },
                            "then": {
                                "properties": {"phone": {"type": "string", "pattern": r"\S"}},
                                "required": ["phone"],
                            },
                        },
                    ],
                ),
                "vehicle": obj(
                    {
                        "model": text(100),
                        "vin": text(17),
                        "mileage": integer(minimum=0, maximum=5_000_000),
                    },
                    [],
                ),
                "complaint": text(MAX_TEXT, "The customer's words (问诊).", multiline=True),
                "items": array(
                    obj(
                        {
                            "title": text(200, min_length=1),
                            "labour_hours": {"type": "number", "minimum": 0, "maximum": 200},
                        },
                        ["title"],
                    ),
                    maxItems=100,
                ),
                "promised_at": _optional_timestamp("Promised completion time"),
                "waiting": {"type": "boolean", "default": False},
                "wash": {"type": "boolean", "default": False},
                "priority": {**enum_of(PRIORITIES), "default": "normal"},
                "booked": {
                    "type": "boolean",
                    "default": False,
                    "description": "Create as booked (appointment, car not here yet).",
                },
            },
            ["plate"],
        ),
        "Transition": obj(
            {
                "to": enum_of(Stage),
                "version": version,
                "reason": text(
                    500, "Required to cancel and to send a car back to repair.", multiline=True
                ),
                "pause_reason": {
                    **enum_of(PauseReason, nullable=True),
                    "description": "Required when to is paused.",
                },
            },
            ["to", "version"],
            # What the schema can say of the rules between fields: a
            # cancellation needs its reason, a pause what it waits for.
            allOf=[
                {
                    "if": {"properties": {"to": {"const": "cancelled"}}, "required": ["to"]},
                    "then": {
                        "properties": {"reason": {"type": "string", "pattern": r"\S"}},
                        "required": ["reason"],
                    },
                },
                {
                    "if": {"properties": {"to": {"const": "paused"}}, "required": ["to"]},
                    "then": {
                        "properties": {"pause_reason": {"enum": ["other", "parts"]}},
                        "required": ["pause_reason"],
                    },
                },
            ],
        ),
        "Check": obj({"version": version}, ["version"]),
        "Assignment": obj(
            {
                "bay": text(40, "A bay code, e.g. B01.", min_length=1),
                "technicians": array(integer("A technician's id."), minItems=1, uniqueItems=True),
                "version": version,
            },
            ["bay", "technicians", "version"],
        ),
        "ExtraWorkQuote": obj(
            {
                "description": text(500, min_length=1, multiline=True),
                "labour_hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 200},
                "price_cents": integer(minimum=0, maximum=100_000_000),
                "version": version,
            },
            ["description", "labour_hours", "price_cents", "version"],
        ),
        "QuoteRevision": obj(
            {
                "description": text(500, min_length=1, multiline=True),
                "labour_hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 200},
                "price_cents": integer(minimum=0, maximum=100_000_000),
                "quote_version": integer("The quote's version you are revising."),
            },
            ["description", "labour_hours", "price_cents", "quote_version"],
        ),
        "PartsRequest": obj(
            {
                "description": text(200, "What is needed (领料).", min_length=1),
                "eta": _optional_timestamp("Expected arrival, if known"),
                "version": integer(
                    "The order's version you last saw; checked when sent.", minimum=1
                ),
            },
            ["description"],
        ),
        "PartsUpdate": obj(
            {
                "status": {
                    **enum_of(PART_MOVES_TO),
                    "description": "requested → ordered or arrived; ordered → ordered (a new "
                    "eta) or arrived; an arrived request moves no more (422, field status).",
                },
                "eta": _optional_timestamp("Expected arrival (with ordered)"),
            },
            ["status"],
        ),
        "PromiseChange": obj(
            {
                "promised_at": timestamp("The new promised time, in the future."),
                "reason": text(200, min_length=1),
                "version": version,
            },
            ["promised_at", "reason", "version"],
        ),
        "PromiseChangeNote": {
            "oneOf": [
                {"type": "null"},
                obj(
                    {
                        "reason": {"type": "string"},
                        "by": {"type": "string"},
                        "at": timestamp(),
                    }
                ),
            ],
            "description": "The last change of the promised time (null while it is the "
            "first promise): why, by whom, when.",
        },
        "PromiseSuggestion": obj(
            {
                "promised_at": timestamp("The earliest honest completion, in opening hours."),
                "starts_at": timestamp("When work on it would start."),
                "queue_minutes": integer("Working minutes until it starts.", minimum=0),
                "labour_hours": {"type": "number"},
                "waiting": {"type": "boolean"},
                "backlog_hours": {"type": "number"},
                "technicians": integer(minimum=0),
            }
        ),
        "ReasonClear": obj(
            {"version": integer("The order's version you last saw; checked when sent.", minimum=1)},
            [],
        ),
        "Decision": obj(
            {
                "approved": {"type": "boolean"},
                "quote_version": integer("The quote's version you showed the customer."),
                "channel": {**enum_of(DECISION_CHANNELS), "default": "phone"},
            },
            ["approved", "quote_version"],
        ),
        "CustomerDecision": obj(
            {"approved": {"type": "boolean"}, "quote_version": integer()},
            ["approved", "quote_version"],
        ),
        "Survey": obj(
            {"rating": integer(minimum=1, maximum=5), "comment": text(1000, multiline=True)},
            ["rating"],
        ),
        "PairingRequest": obj({"kind": enum_of(DEVICE_KINDS)}, ["kind"]),
        "PairingPollRequest": obj(
            {"device_code": {"type": "string", "pattern": SINGLE_LINE_PATTERN}}, ["device_code"]
        ),
    }


def reply_schemas() -> dict[str, Schema]:
    order = order_schema()
    with_history = {**order, "properties": {**order["properties"]}}
    with_history["properties"]["history"] = array(ref("Event"))
    with_history["required"] = [*order["required"], "history"]
    with_history["description"] = "A repair order with its events, oldest first."
    quote_created = obj({**_quote_properties(for_staff=True), "order": ref("Order")})
    quote_created["description"] = "The new quote and the order that now waits for it."
    quote_revised = obj({**_quote_properties(for_staff=True), "order": ref("Order")})
    quote_revised["description"] = "The revised quote (its new version) and the order."
    part = part_schema()
    part_with_order = obj({**part["properties"], "order": ref("Order")})
    part_with_order["description"] = "The parts request and the order after the change."
    return {
        "Order": order,
        "OrderWithHistory": with_history,
        "OrderList": obj({"orders": array(ref("Order"))}),
        "LoungeOrder": lounge_order_schema(),
        "LoungeQueue": lounge_queue_schema(),
        "CustomerOrder": customer_order_schema(),
        "CustomerOrderReply": obj({"order": ref("CustomerOrder")}),
        "TrackReply": obj({"seq": integer(), "order": ref("CustomerOrder")}),
        "WorkItem": obj({"title": {"type": "string"}, "labour_hours": {"type": "number"}}),
        "Quote": obj(
            {
                **_quote_properties(for_staff=True),
                "signature_url": {
                    "type": ["string", "null"],
                    "description": "The customer's signature on an in-person approval "
                    "(GET it with your credential), or null when there is none.",
                },
            }
        ),
        "CustomerQuote": obj(_quote_properties(for_staff=False)),
        "QuoteCreated": quote_created,
        "RevisedQuote": quote_revised,
        "PauseItem": pause_item_schema(),
        "Part": part,
        "PartWithOrder": part_with_order,
        "Bay": obj(
            {
                "id": integer(),
                "code": {"type": "string", "description": "Fixed; orders name their bay by it."},
                "name": {"type": "string"},
                "kind": enum_of(BAY_KINDS),
                "capacity": integer(
                    "Cars at once: 1 on a repair bay, more on a wash bay or a parking lane.",
                    minimum=1,
                ),
                "position": integer("Its place on the board, from 1.", minimum=1),
                "in_service": {"type": "boolean"},
                "out_of_service_reason": {
                    "type": "string",
                    "description": "Why it is out of service (the board shows it); empty "
                    "when in service.",
                },
            }
        ),
        "BayList": obj({"bays": array(ref("Bay"))}),
        "BayHolder": obj(
            {"id": integer(), "number": integer(), "plate": {"type": "string"}},
            description="A car standing on a bay (bay_occupied names them).",
        ),
        "Technician": obj(
            {
                "id": integer(),
                "name": {"type": "string"},
                "badge": {"type": ["string", "null"]},
                "qualifications": array(
                    enum_of(("team_lead", "qc_inspector", "ev", "paint", "alignment"))
                ),
            }
        ),
        "TechnicianList": obj({"technicians": array(ref("Technician"))}),
        "EventsPage": obj(
            {
                "events": array(ref("Event")),
                "last_seq": integer("The shop's newest seq; page on with after=<last seen>."),
            }
        ),
        "Problem": problem_schema(),
        "CustomerProblem": problem_schema("CustomerOrder"),
        "PairingStarted": obj(
            {
                "user_code": {"type": "string", "description": "Shown on the screen."},
                "device_code": {"type": "string", "description": "Secret; poll with it."},
                "expires_in": integer("Seconds."),
                "interval": integer("Seconds between polls."),
            }
        ),
        "PairingStatus": obj(
            {
                "status": enum_of(PAIRING_STATUSES),
                "user_code": {"type": "string"},
                "device_token": {
                    "type": "string",
                    "description": "Only with approved, and only once.",
                },
                "name": {"type": "string"},
            },
            ["status"],
        ),
        "Whoami": obj(
            {
                "authenticated": {"type": "boolean"},
                "kind": enum_of(("token", "user", "device")),
                "role": enum_of((*TOKEN_ROLES, "kiosk")),
                "name": {"type": "string"},
                "shop_id": integer(),
                "audience": enum_of(("staff", "lounge", "customer")),
            },
            ["authenticated"],
        ),
        "Health": obj(
            {
                "status": enum_of(("ok", "error")),
                "database": {"type": "string"},
                "async_mode": {"type": "string"},
            },
            ["status", "database"],
        ),
    }


# ------------------------------------------------------------ operations


def _json_response(description: str, schema: Schema, *, replayable: bool = False) -> Schema:
    response: Schema = {"description": description, "content": {JSON: {"schema": schema}}}
    if replayable:
        response["headers"] = {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}}
    return response


def _parameter_ref(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def operation(
    operation_id: str,
    summary: str,
    tag: str,
    success: dict[int, Schema],
    *,
    errors: tuple[int, ...] = (),
    security: list[dict[str, list[str]]] | None = None,
    parameters: list[Schema] | None = None,
    body: str | None = None,
    idempotent: bool = False,
    description: str = "",
    customer: bool = False,
) -> Schema:
    """One operation object; ``idempotent`` adds the Idempotency-Key header;
    ``customer`` makes every refusal that carries the order carry the
    customer's view of it."""
    responses: dict[str, Schema] = {str(status): value for status, value in success.items()}
    for status in errors:
        name = ERROR_RESPONSES[status]
        if customer:
            name = f"Customer{name}"
        responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
    found: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    if description:
        found["description"] = description
    if security is not None:
        found["security"] = security
    every_parameter = list(parameters or [])
    if idempotent:
        every_parameter.append(_parameter_ref("IdempotencyKey"))
    if every_parameter:
        found["parameters"] = every_parameter
    if body is not None:
        found["requestBody"] = {"required": True, "content": {JSON: {"schema": ref(body)}}}
    return found


def _order_paths() -> dict[str, Schema]:
    order_id = _parameter_ref("OrderId")
    quote_id = _parameter_ref("QuoteId")
    order_changed = _json_response("The order after the change.", ref("Order"), replayable=True)
    return {
        f"{API}/orders": {
            "post": operation(
                "createOrder",
                "Open a repair order (or book one)",
                "orders",
                {201: _json_response("The new order.", ref("Order"), replayable=True)},
                errors=(401, 403, 413, 422, 429),
                security=WRITE_SECURITY,
                body="OrderCreate",
                idempotent=True,
                description="Roles: admin, manager, advisor. Issues the day's queue number.",
            ),
            "get": operation(
                "listOrders",
                "List orders",
                "orders",
                {200: _json_response("Orders, oldest first.", ref("OrderList"))},
                errors=(*STAFF_READ_ERRORS, 422),
                parameters=[
                    {
                        "name": "active",
                        "in": "query",
                        "schema": enum_of(("true", "false")),
                        "description": "true: open orders (the default without stage); "
                        "false: delivered and cancelled.",
                    },
                    {"name": "stage", "in": "query", "schema": enum_of(Stage)},
                ],
            ),
        },
        f"{API}/orders/{{order_id}}": {
            "get": operation(
                "getOrder",
                "One order with its history",
                "orders",
                {200: _json_response("The order and its events.", ref("OrderWithHistory"))},
                errors=(401, 403, 404, 429),
                parameters=[order_id],
            )
        },
        f"{API}/orders/{{order_id}}/transitions": {
            "post": operation(
                "transitionOrder",
                "Move an order to another stage",
                "orders",
                {200: order_changed},
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id],
                body="Transition",
                idempotent=True,
                description="409 stale_version or illegal_transition carries the current "
                "order (and, for illegal_transition, the allowed next stages). A pause adds "
                "one reason to the order's pause_reasons: other (reason is its note), or "
                "parts (reason says what is needed: a parts request is created, as by "
                "POST …/parts); approval is refused (422, field pause_reason): quote the "
                "work instead. A resume (paused → in_progress) is refused with 409 "
                "approval_pending or parts_pending (with pause_reasons, the keys still "
                "open) while a quote or a parts request holds the car, and clears the "
                "other reasons. Only an assigned technician's own start or resume opens a "
                "labour clock, and only theirs.",
            )
        },
        f"{API}/orders/{{order_id}}/checks": {
            "post": operation(
                "passCheck",
                "Pass the next inspection level",
                "orders",
                {200: order_changed},
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id],
                body="Check",
                idempotent=True,
                description="Team lead, then QC, then final; the last pass moves the car to "
                "washing or ready. A failed check is a transition to in_progress with a reason.",
            )
        },
        f"{API}/orders/{{order_id}}/assignment": {
            "put": operation(
                "assignOrder",
                "Dispatch: set bay and technicians",
                "orders",
                {200: order_changed},
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id],
                body="Assignment",
                idempotent=True,
                description="Roles: admin, manager, foreman. A checked-in order becomes "
                "dispatched. 409 bay_occupied when the bay already holds as many cars as it "
                "takes (capacity): the refusal names them (held_by, holders) and carries the "
                "order unchanged.",
            )
        },
        f"{API}/orders/{{order_id}}/extra-work": {
            "post": operation(
                "quoteExtraWork",
                "Quote additional work found",
                "extra-work",
                {201: _json_response("The quote.", ref("QuoteCreated"), replayable=True)},
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id],
                body="ExtraWorkQuote",
                idempotent=True,
                description="Roles: admin, manager, advisor, foreman, technician (only on "
                "orders dispatched to them). While in_progress or paused. Adds an approval "
                "reason (approval:<quote id>): a car in progress pauses, a paused car keeps "
                "its other reasons. The customer may decide until expires_at: the shop's "
                f"quote_valid_minutes setting after the quote (default {QUOTE_VALID_MINUTES}); "
                "then the quote expires and its reason clears.",
            )
        },
        f"{API}/orders/{{order_id}}/extra-work/{{quote_id}}": {
            "put": operation(
                "reviseQuote",
                "Revise a pending quote (a new version)",
                "extra-work",
                {200: _json_response("The revised quote.", ref("RevisedQuote"), replayable=True)},
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id, quote_id],
                body="QuoteRevision",
                idempotent=True,
                description="Roles: as for quoting. Only while the quote is pending: its "
                "version goes up by one, expires_at starts again, and a decision naming "
                "an older version is refused. 409 stale_version (with quote_version, the "
                "current one) when quote_version is not the quote's version, quote_locked "
                "once decided (a change needs a new quote), quote_expired once expired. "
                "The order's version is not checked.",
            )
        },
        f"{API}/orders/{{order_id}}/extra-work/{{quote_id}}/decision": {
            "post": operation(
                "decideExtraWork",
                "Record the customer's decision (by phone, in person)",
                "extra-work",
                {200: order_changed},
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id, quote_id],
                body="Decision",
                idempotent=True,
                description="Roles: admin, manager, advisor. Records approved or declined on "
                "the version named (decided_version) and who took it (taken_by: your name). "
                "It clears that quote's approval reason only: the car stays paused (and may "
                "still wait for parts or another quote) until a technician resumes; no "
                "labour clock starts. 409 stale_version (with quote_version) on another "
                "version, quote_expired after expires_at, already_decided once decided.",
            )
        },
        f"{API}/orders/{{order_id}}/parts": {
            "post": operation(
                "requestParts",
                "Request parts: the car waits for them",
                "orders",
                {
                    201: _json_response(
                        "The new parts request.", ref("PartWithOrder"), replayable=True
                    )
                },
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id],
                body="PartsRequest",
                idempotent=True,
                description="Roles: admin, manager, advisor, foreman, technician (only on "
                "orders dispatched to them). While in_progress (the car pauses) or paused "
                "(it also waits for these); else 409 illegal_transition. Adds a parts "
                "reason (parts:<part id>, expected_at = eta). version is checked when sent.",
            )
        },
        f"{API}/orders/{{order_id}}/parts/{{part_id}}": {
            "patch": operation(
                "changePartsStatus",
                "The parts counter: ordered (with eta) or arrived",
                "orders",
                {200: _json_response("The parts request.", ref("PartWithOrder"), replayable=True)},
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id, _parameter_ref("PartId")],
                body="PartsUpdate",
                idempotent=True,
                description="Roles: admin, manager, advisor, foreman; others 403. ordered "
                "sets (or, without eta, keeps) the expected arrival, which becomes the parts "
                "reason's expected_at. arrived clears that parts reason only: the car stays "
                "paused until a technician resumes it. 409 illegal_transition on a closed "
                "order; the order's version is not checked.",
            )
        },
        f"{API}/orders/{{order_id}}/promise": {
            "put": operation(
                "changePromise",
                "Set a new promised time (承诺交车), with the reason",
                "orders",
                {200: order_changed},
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id],
                body="PromiseChange",
                idempotent=True,
                description="Roles: admin, manager, advisor. While the car is in the shop "
                "and not ready (else 409 illegal_transition). Records promise_changed "
                "{old, new, by, reason}; the customer's page shows the new time, the reason, "
                "who changed it and when. 422 on a time in the past, the same time, or no "
                "reason.",
            )
        },
        f"{API}/orders/{{order_id}}/pause-reasons/{{key}}/clear": {
            "post": operation(
                "clearPauseReason",
                'End an "other" reason of a pause',
                "orders",
                {200: order_changed},
                errors=STAFF_WRITE_ERRORS,
                security=WRITE_SECURITY,
                parameters=[order_id, _parameter_ref("ReasonKey")],
                body="ReasonClear",
                idempotent=True,
                description="Roles: admin, foreman, technician (only on orders dispatched to "
                "them). Only other:<n> reasons: parts clear when they arrive, approvals "
                "when the customer decides or the quote expires (a parts or approval key "
                "is 422, field key; a key the order does not wait for, 404). The car stays "
                "paused: resuming is a transition. version is checked when sent.",
            )
        },
    }


def _shop_paths() -> dict[str, Schema]:
    return {
        f"{API}/bays": {
            "get": operation(
                "listBays",
                "Active bays",
                "shop",
                {
                    200: _json_response(
                        "Bays in the board's order (as an admin placed them, then by code).",
                        ref("BayList"),
                    )
                },
                errors=STAFF_READ_ERRORS,
            )
        },
        f"{API}/technicians": {
            "get": operation(
                "listTechnicians",
                "Active technicians",
                "shop",
                {200: _json_response("Technicians by name.", ref("TechnicianList"))},
                errors=STAFF_READ_ERRORS,
            )
        },
        f"{API}/promise": {
            "get": operation(
                "suggestPromise",
                "The promised time to offer a new order",
                "shop",
                {200: _json_response("The engine's promise.", ref("PromiseSuggestion"))},
                errors=(*STAFF_READ_ERRORS, 422),
                parameters=[
                    {
                        "name": "labour_hours",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "number", "minimum": 0, "maximum": 200},
                    },
                    {
                        "name": "waiting",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["true", "false"]},
                        "description": "The customer waits in the lounge (goes ahead of "
                        "drop-offs).",
                    },
                ],
                description="Roles: admin, manager, advisor. From the shop-load engine: the "
                "earliest completion within opening hours (breaks, holidays and the cars "
                "ahead counted), never inside closed time, rounded up to a quarter hour.",
            )
        },
        f"{API}/events": {
            "get": operation(
                "listEvents",
                "The shop's event log after a seq",
                "events",
                {200: _json_response("Events in seq order.", ref("EventsPage"))},
                errors=(*STAFF_READ_ERRORS, 422),
                parameters=[
                    {
                        "name": "after",
                        "in": "query",
                        # The view's bound (shared/web/api.py list_events);
                        # the schema-driven fuzz finds any drift.
                        "schema": integer(minimum=0, maximum=EVENTS_AFTER_MAX, default=0),
                        "description": "Return events with seq greater than this.",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": integer(minimum=1, maximum=1000, default=100),
                    },
                ],
            )
        },
        f"{API}/openapi.json": {
            "get": operation(
                "getOpenApi",
                "This document",
                "meta",
                {200: _json_response("OpenAPI 3.1.", {"type": "object"})},
                errors=(429,),
                security=PUBLIC,
            )
        },
        f"{API}/whoami": {
            "get": operation(
                "whoami",
                "Who the credential is",
                "meta",
                {200: _json_response("The caller, or authenticated false.", ref("Whoami"))},
                errors=(401, 429),
                security=[*READ_SECURITY, {}],
                description="401 only for a malformed or unknown bearer token.",
            )
        },
    }


def _customer_paths() -> dict[str, Schema]:
    token = _parameter_ref("CustomerToken")
    customer_reply = _json_response(
        "The customer's order after the change.", ref("CustomerOrderReply"), replayable=True
    )
    customer_errors = (404, 409, 413, 422, 429)
    return {
        f"{API}/track/{{token}}": {
            "get": operation(
                "trackOrder",
                "The customer's order (capability link)",
                "customer",
                {200: _json_response("The order, redacted for its customer.", ref("TrackReply"))},
                errors=(404, 429),
                security=PUBLIC,
                parameters=[token],
            )
        },
        f"{API}/track/{{token}}/extra-work/{{quote_id}}/decision": {
            "post": operation(
                "decideExtraWorkAsCustomer",
                "The customer approves or declines additional work",
                "customer",
                {200: customer_reply},
                errors=customer_errors,
                security=PUBLIC,
                parameters=[token, _parameter_ref("QuoteId")],
                body="CustomerDecision",
                idempotent=True,
                customer=True,
                description="Clears that quote's approval reason only: the car stays paused "
                "until a technician resumes it. 409 stale_version (with quote_version) when "
                "the quote was revised since, quote_expired after its expires_at, "
                "already_decided once decided.",
            )
        },
        f"{API}/track/{{token}}/survey": {
            "post": operation(
                "submitSurvey",
                "The customer rates the service (once, after delivery)",
                "customer",
                {201: customer_reply},
                errors=customer_errors,
                security=PUBLIC,
                parameters=[token],
                body="Survey",
                idempotent=True,
                customer=True,
                description="409 illegal_transition before delivery, already_submitted after "
                "the first rating.",
            )
        },
    }


def _device_paths() -> dict[str, Schema]:
    not_idempotent = (
        "Not idempotent (Idempotency-Key is ignored): a retry starts a new pairing or "
        "consumes the one-time device token."
    )
    return {
        f"{API}/devices/pairing": {
            "post": operation(
                "startPairing",
                "A screen asks to be paired (RFC 8628)",
                "devices",
                {201: _json_response("Codes to show and to poll with.", ref("PairingStarted"))},
                errors=(413, 422, 429),
                security=PUBLIC,
                body="PairingRequest",
                description=not_idempotent,
            )
        },
        f"{API}/devices/pairing/poll": {
            "post": operation(
                "pollPairing",
                "A screen polls for its device token",
                "devices",
                {200: _json_response("The pairing's status.", ref("PairingStatus"))},
                errors=(404, 413, 422, 429),
                security=PUBLIC,
                body="PairingPollRequest",
                description=f"{not_idempotent} Poll no sooner than the interval: an earlier "
                "poll is refused with 429 slow_down and a longer interval (and Retry-After), "
                "to keep for every later poll.",
            )
        },
    }


def _ops_paths() -> dict[str, Schema]:
    return {
        "/healthz": {
            "get": operation(
                "getHealth",
                "Liveness and database reachability",
                "operations",
                {
                    200: _json_response("Healthy.", ref("Health")),
                    503: _json_response("The database is unreachable.", ref("Health")),
                },
                security=PUBLIC,
            )
        },
        "/metrics": {
            "get": operation(
                "getMetrics",
                "Prometheus metrics",
                "operations",
                {
                    200: {
                        "description": "Prometheus text exposition format 0.0.4.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                security=PUBLIC,
            )
        },
    }


# ------------------------------------------------------------ components


def _problem_response(description: str, schema: str = "Problem") -> Schema:
    return {"description": description, "content": {PROBLEM: {"schema": ref(schema)}}}


def _responses() -> dict[str, Schema]:
    rate_limited = _problem_response(
        "rate_limited: too many requests for this credential (600 a minute for the REST "
        "API; on customer links and Socket.IO connects, 30 refused tokens a minute per "
        "address), or, on the pairing poll, slow_down (RFC 8628: polled sooner than the "
        "interval; interval is the new, longer one) or too many polls or pairings from "
        "one address."
    )
    rate_limited["headers"] = {
        "Retry-After": {
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
            "description": "Seconds to wait before trying again.",
        }
    }
    # A refusal of a command is kept for its Idempotency-Key like a success.
    replayed = {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}}
    staff = {
        "Unauthorized": _problem_response("unauthorized: no, malformed or unknown credential."),
        "Forbidden": _problem_response(
            "forbidden: the role may not do this, the order is not yours, or the CSRF check "
            "failed (session cookie)."
        ),
        "NotFound": _problem_response("not_found: no such order, quote, link or pairing."),
        "Conflict": _problem_response(
            "stale_version (on a quote: with quote_version), illegal_transition (with "
            "allowed), approval_pending and parts_pending (with pause_reasons), "
            "checks_pending, already_decided, quote_expired and quote_locked (with "
            "quote_id), already_submitted, bay_occupied (with bay, capacity, held_by, "
            "holders). Carries the current order."
        ),
        "PayloadTooLarge": _problem_response(
            f"payload_too_large: body over the limit ({MAX_BODY_BYTES // 1024} KiB; a photo "
            f"upload takes {MAX_PHOTO_BYTES // (1024 * 1024)} MB of picture)."
        ),
        "ValidationError": _problem_response(
            "validation_error (with field): a wrong type or value, text with a character the "
            "stored-text rule refuses, or a field the body may not have (request bodies are "
            "closed: an unknown field is refused by name, e.g. customer.x or items[0].x); or "
            "idempotency_key_reuse."
        ),
        "RateLimited": rate_limited,
    }
    for name in ("Forbidden", "NotFound", "Conflict", "ValidationError"):
        staff[name]["headers"] = replayed
    # A refusal of a command carries the order as it is now; on a customer's
    # link that is the customer's view, whatever the refusal.
    customer = {
        f"Customer{name}": {
            **response,
            "description": f"{response['description']} Any order it carries is the "
            "customer's view.",
            "content": {PROBLEM: {"schema": ref("CustomerProblem")}},
        }
        for name, response in staff.items()
    }
    return {**staff, **customer}


def _parameters() -> dict[str, Schema]:
    # Row ids: a number past the 64-bit range is simply no such row (404).
    row_id = integer(minimum=1, maximum=INT64_MAX)
    return {
        "OrderId": {"name": "order_id", "in": "path", "required": True, "schema": row_id},
        "QuoteId": {"name": "quote_id", "in": "path", "required": True, "schema": row_id},
        "PartId": {"name": "part_id", "in": "path", "required": True, "schema": row_id},
        "ReasonKey": {
            "name": "key",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "maxLength": 40, "pattern": OTHER_REASON_KEY},
            "description": "An open \"other\" reason's key, as in the order's pause_reasons.",
        },
        "CustomerToken": {
            "name": "token",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "maxLength": 100},
            "description": "The customer's capability token (from the ticket's QR link).",
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {
                "type": "string",
                "maxLength": IDEMPOTENCY_KEY_MAX,
                "pattern": "^[!-~]*$",
            },
            "description": "Printable ASCII, no spaces; an empty value is the same as no key. "
            "Kept at least 24 h per caller: a replay returns the first result (with "
            "Idempotent-Replayed: true); the same key with another body is refused with "
            "idempotency_key_reuse.",
        },
    }


def _security_schemes() -> dict[str, Schema]:
    return {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `baylight create-token`, or a paired device's token.",
        },
        "sessionCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": "session",
            "description": "The staff pages' sign-in session (/login).",
        },
        "csrfToken": {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRFToken",
            "description": "With the session cookie, every mutation carries the session's "
            "CSRF token.",
        },
    }


def _nullable(schema: Schema) -> Schema:
    """``schema`` that also takes null."""
    if "enum" in schema:
        schema = {**schema, "enum": [*schema["enum"], *([] if None in schema["enum"] else [None])]}
    kinds = schema.get("type")
    if isinstance(kinds, str):
        return {**schema, "type": [kinds, "null"]}
    if isinstance(kinds, list):
        return {**schema, "type": [*kinds, *([] if "null" in kinds else ["null"])]}
    return {"anyOf": [schema, {"type": "null"}]}


def _body_rules(schema: Schema, schemas: dict[str, Schema]) -> None:
    """Apply the rules every JSON body is read by (shared/web/parsing.py
    ``Body``) to ``schema`` and what it references, in place:

    * closed objects: a field the view does not read is refused
      (validation_error naming it, e.g. customer.x or items[0].x), never
      silently dropped;
    * null is the same as leaving an optional field out (and is refused for a
      required one);
    * integers fit a signed 64-bit column."""
    if "$ref" in schema:
        _body_rules(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
        return
    if schema.get("type") == "integer":
        schema.setdefault("minimum", INT64_MIN)
        schema.setdefault("maximum", INT64_MAX)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        schema["additionalProperties"] = False
        for name, value in properties.items():
            _body_rules(value, schemas)
            if name not in schema.get("required", ()):
                properties[name] = _nullable(value)
    if isinstance(schema.get("items"), dict):
        _body_rules(schema["items"], schemas)


def _apply_body_rules(doc: dict[str, Any]) -> None:
    """Every JSON request body, nested objects and list items too, is read by
    the same rules (``_body_rules``); the document says so where it happens."""
    schemas = doc["components"]["schemas"]
    for item in doc["paths"].values():
        for found in item.values():
            content = found.get("requestBody", {}).get("content", {})
            if JSON in content:
                _body_rules(content[JSON]["schema"], schemas)


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    doc = _document()
    _apply_body_rules(doc)
    return doc


def merged_paths(*path_sets: dict[str, Any]) -> dict[str, Any]:
    """Path sets merged per path and method: two modules may each describe
    methods of one path (GET /bays here, POST /bays in the admin API); one
    method described twice is a mistake."""
    out: dict[str, Any] = {}
    for paths in path_sets:
        for path, methods in paths.items():
            target = out.setdefault(path, {})
            clash = set(target) & set(methods)
            if clash:
                raise ValueError(f"{path}: {sorted(clash)} described twice")
            target.update(methods)
    return out


def _document() -> dict[str, Any]:
    from shared.web import (
        api_appointments,
        api_booking,
        api_comebacks,
        api_notifications,
        api_reports,
        api_shop_admin,
        api_staff,
        api_tokens,
        photos,
    )

    admin_modules = (
        api_staff,
        api_shop_admin,
        api_tokens,
        api_reports,
        api_comebacks,
        api_notifications,
        api_appointments,
        api_booking,
    )

    found: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Baylight API",
            "version": "1",
            "summary": "Live workshop board for car service departments.",
            "description": "Repair orders, their stages and events. Guide: docs/API.md; "
            "event types and Socket.IO messages: docs/EVENTS.md.",
        },
        "servers": [{"url": "/"}],
        "security": READ_SECURITY,
        "tags": [
            {"name": name}
            for name in (
                "orders",
                "extra-work",
                "shop",
                "events",
                "customer",
                "appointments",
                "devices",
                "admin",
                "meta",
                "operations",
            )
        ],
        "paths": merged_paths(
            _order_paths(),
            _shop_paths(),
            _customer_paths(),
            _device_paths(),
            photos.openapi_paths(),
            _ops_paths(),
            *(module.openapi_paths() for module in admin_modules),
        ),
        "components": {
            "schemas": {
                **reply_schemas(),
                **request_schemas(),
                **event_schemas(),
                **photos.openapi_schemas(),
                **{k: v for m in admin_modules for k, v in m.openapi_schemas().items()},
            },
            "responses": _responses(),
            "parameters": _parameters(),
            "headers": {
                "Replayed": {
                    "schema": {"type": "string", "const": "true"},
                    "description": "Present when the reply is a stored Idempotency-Key result.",
                }
            },
            "securitySchemes": _security_schemes(),
        },
    }
    # The summary counts the range's appointments too (shared/services/reports.py),
    # in the manager's half only: bookings and no-shows are the front office's.
    schemas = found["components"]["schemas"]
    schemas["ReportSummary"]["properties"]["appointments"] = {
        **ref("AppointmentFigures"),
        "description": "Not in the foreman's (workshop) half.",
    }
    return found
