"""REST v1 administration: bays and the shop profile (issue 14, items 3 and 4):
GET|POST /api/v1/bays (GET is in api.py), PATCH /api/v1/bays/{code},
GET|PATCH /api/v1/shop.

Admin and manager only; views parse, authorise and call one service each.
A field a body may leave out reads as "leave it as it is" (``None``), so a
PATCH changes only what it names; every field is read before the command is
asked for, which refuses any other field by name (``parsing.Body``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from shared.config import LOCALES
from shared.domain import comebacks
from shared.domain import notifications as rules
from shared.domain.bays import BAY_KINDS
from shared.domain.errors import Message, ValidationFailed
from shared.domain.policy import Command
from shared.services import (
    appointment_settings,
    bay_admin,
    notify_settings,
    shop_profile,
    shop_settings,
)
from shared.services.bay_admin import BayChange
from shared.services.commands import CommandRequest
from shared.services.shop_profile import ProfileChange
from shared.web.access import core, current_principal, require
from shared.web.http_commands import command_request, reply
from shared.web.parsing import Body, json_body

blueprint = Blueprint("api_shop_admin", __name__, url_prefix="/api/v1")

ADMINS = Command.ADMINISTER


def _command(body: Body) -> CommandRequest:
    principal = current_principal()
    assert principal is not None
    return command_request(principal, body)


def _given(body: Body, key: str) -> bool:
    return body.data.get(key) is not None


def _text(body: Body, key: str, *, multiline: bool = False) -> str | None:
    """A text field, or None when the body leaves it out (or sends null)."""
    value = body.string(key, multiline=multiline)
    return value if _given(body, key) else None


def _flag(body: Body, key: str) -> bool | None:
    value = body.boolean(key)
    return value if _given(body, key) else None


def _texts(body: Body, key: str) -> tuple[str, ...] | None:
    """A list of strings, or None when left out (``Body`` has no getter
    for one: this reads the field as its getters do)."""
    value = body._get(key, False)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(body._name(key), f"{body._name(key)} must be a list of strings.")
    return tuple(value)


# ------------------------------------------------------------------ bays


@blueprint.post("/bays")
@require(ADMINS)
def create_bay() -> ResponseReturnValue:
    body = json_body()
    code = body.string("code", required=True)
    name = body.string("name")
    kind = body.string("kind", default="general")
    capacity = body.integer("capacity")
    position = body.integer("position")
    outcome = bay_admin.add_bay(
        core(),
        _command(body),
        code=code,
        name=name,
        kind=kind,
        capacity=1 if capacity is None else capacity,
        position=position,
    )
    return reply(outcome)


@blueprint.patch("/bays/<code>")
@require(ADMINS)
def update_bay(code: str) -> ResponseReturnValue:
    body = json_body()
    change = BayChange(
        name=_text(body, "name"),
        kind=_text(body, "kind"),
        capacity=body.integer("capacity"),
        in_service=_flag(body, "in_service"),
        reason=_text(body, "reason"),
        position=body.integer("position"),
    )
    return reply(bay_admin.change_bay(core(), _command(body), code, change))


# ------------------------------------------------------------------ shop profile


@blueprint.get("/shop")
@require(ADMINS)
def get_shop() -> ResponseReturnValue:
    principal = current_principal()
    assert principal is not None
    return jsonify(shop_profile.profile(core(), principal.shop_id))


def _hours(body: Body) -> shop_settings.Hours | None:
    """``opening_hours`` replaces the hours as a whole: open and close (both
    empty: none), breaks, closed weekdays."""
    if not _given(body, "opening_hours"):
        body.obj("opening_hours")
        return None
    hours = body.obj("opening_hours")
    breaks = tuple(
        (b.string("start", required=True), b.string("end", required=True))
        for b in hours.objects("breaks")
    )
    return shop_settings.Hours(
        open=hours.string("open") or None,
        close=hours.string("close") or None,
        breaks=breaks,
        closed_weekdays=tuple(hours.integers("closed_weekdays")),
    )


def _stage_labels(body: Body) -> dict[str, dict[str, str | None]] | None:
    """The words to lay over the shop's: per locale, per stage; an empty
    word (or null) gives the catalogue's back. Unknown locales and stages are
    left unread, so the body's check refuses them by name."""
    if not _given(body, "stage_labels"):
        body.obj("stage_labels")
        return None
    labels = body.obj("stage_labels")
    patch: dict[str, dict[str, str | None]] = {}
    for locale in [key for key in labels.data if key in LOCALES]:
        words = labels.obj(locale)
        patch[locale] = {
            stage: words.string(stage) or None
            for stage in [key for key in words.data if key in shop_settings.STAGES]
        }
    return patch


def _raw_object(body: Body, key: str) -> dict[str, Any] | None:
    """A JSON object read whole, or None when left out: its own rules
    (``notify_settings``) check every part and refuse unknown ones by name."""
    value = body._get(key, False)
    if value is None:
        return None
    if not isinstance(value, dict):
        name = body._name(key)
        raise ValidationFailed(name, Message("%(field)s must be an object.", field=name))
    return value


def _providers(body: Body) -> dict[str, dict[str, Any] | None] | None:
    """``notify_providers``: per channel an object of the fields to change,
    or null to remove the channel's settings."""
    raw = _raw_object(body, "notify_providers")
    if raw is None:
        return None
    for channel, given in raw.items():
        if given is not None and not isinstance(given, dict):
            name = f"notify_providers.{channel}"
            raise ValidationFailed(name, Message("%(field)s must be an object.", field=name))
    return raw


@blueprint.patch("/shop")
@require(ADMINS)
def update_shop() -> ResponseReturnValue:
    body = json_body()
    version = body.required_integer("version")
    lounge = body.obj("lounge")
    change = ProfileChange(
        name=_text(body, "name"),
        address=_text(body, "address"),
        hotline=_text(body, "hotline"),
        timezone=_text(body, "timezone"),
        hours=_hours(body),
        stage_labels=_stage_labels(body),
        retention_days=body.integer("retention_days"),
        lounge_languages=_texts(lounge, "languages"),
        lounge_chime=_flag(lounge, "chime"),
        checks_by_one_person_allowed=_flag(body, "checks_by_one_person_allowed"),
        comeback_days=body.integer("comeback_days"),
        notify=_raw_object(body, "notify"),
        notify_providers=_providers(body),
        appointments=_raw_object(body, "appointments"),
    )
    return reply(shop_profile.update_profile(core(), _command(body), change, version=version))


# ------------------------------------------------------------------ OpenAPI


def openapi_paths() -> dict[str, Any]:
    """This module's paths for the OpenAPI document (merged per path and method)."""
    from shared.web import openapi as oa

    code = {
        "name": "code",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 100},
        "description": "The bay's code (B01): fixed once the bay exists.",
    }
    bay = oa._json_response("The bay after the change.", oa.ref("Bay"), replayable=True)
    shop = oa._json_response("The shop profile.", oa.ref("ShopProfile"), replayable=True)
    stale = {
        "description": "stale_version: someone saved the profile first; carries `shop`, "
        "the profile as it is now (with its version).",
        "content": {oa.PROBLEM: {"schema": oa.ref("ShopProblem")}},
        "headers": {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}},
    }
    roles = "Roles: admin, manager. "
    return {
        f"{oa.API}/bays": {
            "post": oa.operation(
                "createBay",
                "Add a bay",
                "admin",
                {201: {**bay, "description": "The new bay."}},
                errors=(401, 403, 409, 413, 422, 429),
                security=oa.WRITE_SECURITY,
                body="BayCreate",
                idempotent=True,
                description=roles + "The staff screens receive the `bays` message with the "
                "new list at once. A code the shop has already: 409 `bay_exists` (with "
                "`field`: code).",
            )
        },
        f"{oa.API}/bays/{{code}}": {
            "patch": oa.operation(
                "updateBay",
                "Rename a bay, set its kind and capacity, take it out of service or back, "
                "move it on the board",
                "admin",
                {200: bay},
                errors=(401, 403, 404, 413, 422, 429),
                security=oa.WRITE_SECURITY,
                parameters=[code],
                body="BayUpdate",
                idempotent=True,
                description=roles + "Only the fields sent change. Another shop's bay is "
                "not_found. The staff screens receive the `bays` message at once.",
            )
        },
        f"{oa.API}/shop": {
            "get": oa.operation(
                "getShop",
                "The shop profile",
                "admin",
                {200: oa._json_response("The shop profile.", oa.ref("ShopProfile"))},
                errors=oa.STAFF_READ_ERRORS,
                description=roles,
            ),
            "patch": oa.operation(
                "updateShop",
                "Change the shop profile and stage labels",
                "admin",
                {200: shop, 409: stale},
                errors=(401, 403, 413, 422, 429),
                security=oa.WRITE_SECURITY,
                body="ShopUpdate",
                idempotent=True,
                description=roles + "Send the `version` you read: if someone saved first "
                "the answer is 409 stale_version with the profile as it is now. Only the "
                "fields sent change; `opening_hours` replaces the hours as a whole; "
                "`stage_labels` is laid over the shop's (an empty label or null gives the "
                "catalogue's word back). Every live screen of the shop (board, lounge, "
                "customer pages, kiosk, foreman) receives the `shop` message at once.",
            ),
        },
    }


def openapi_schemas() -> dict[str, Any]:
    from shared.web import openapi as oa

    hour = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
    nullable_hour = {"type": ["string", "null"], "pattern": hour["pattern"]}
    kinds = oa.enum_of(BAY_KINDS)
    labels = oa.obj(
        {
            locale: oa.obj(
                {stage: oa.text(shop_settings.LABEL_MAX) for stage in shop_settings.STAGES},
                [],
            )
            for locale in LOCALES
        },
        [],
        description="The shop's own words for the stages, per locale; a stage left out "
        "reads as the catalogue's word. Codes never change.",
    )
    opening_hours = oa.obj(
        {
            "open": nullable_hour,
            "close": nullable_hour,
            "breaks": oa.array(oa.obj({"start": hour, "end": hour})),
            "closed_weekdays": oa.array(
                oa.integer(minimum=1, maximum=7), description="ISO weekdays: 1 Monday, 7 Sunday."
            ),
        },
        description="The same hours every open day (open and close null: none set, the "
        "lounge TV is always on and estimates are planned within 08:30–18:00), the daily "
        "breaks, and the weekdays the shop is closed.",
    )
    lounge = oa.obj(
        {
            "languages": oa.array(
                oa.enum_of(LOCALES),
                description="The languages the lounge TV takes turns in; empty: the TV's own.",
            ),
            "chime": {"type": "boolean", "description": "A ready car chimes on the lounge TV."},
        }
    )
    one_person = {
        "type": "boolean",
        "description": "Whether one person may sign more than one inspection level (team "
        "lead, QC, final) of the same job: a small shop with too few people. false (the "
        "default): a second level by the same person is refused with 409 "
        "`same_person_checks`. true: it is allowed, and its `check_passed` event carries "
        "`checks_by_one_person_allowed: true`.",
    }
    retention = oa.integer(
        "Days after delivery a customer's personal data is kept.",
        minimum=shop_settings.RETENTION_MIN_DAYS,
        maximum=shop_settings.RETENTION_MAX_DAYS,
    )
    comeback_days = oa.integer(
        "Shop days after a delivery within which the same car's return can be marked its "
        "comeback (返修) by the advisor (`POST /api/v1/orders/{id}/comeback`).",
        minimum=comebacks.MIN_DAYS,
        maximum=comebacks.MAX_DAYS,
    )
    # What no property alone can say, as the server reads it: a capacity
    # above one goes with a kind that holds several cars; a reason goes with
    # taking the bay out of service, which needs one; open and close go
    # together. (Open before close, and a break's start before its end, are
    # checked by the server alone: JSON Schema compares no two values.)
    several_cars = {
        "if": {
            "properties": {"capacity": {"type": "integer", "minimum": 2}},
            "required": ["capacity"],
        },
        "then": {
            "properties": {"kind": {"enum": list(bay_admin.MULTI_CAR_KINDS)}},
            "required": ["kind"],
        },
    }
    reason_goes_out = {
        "if": {"properties": {"reason": {"type": "string"}}, "required": ["reason"]},
        "then": {"properties": {"in_service": {"const": False}}, "required": ["in_service"]},
    }
    out_needs_reason = {
        "if": {"properties": {"in_service": {"const": False}}, "required": ["in_service"]},
        "then": {
            "properties": {"reason": {"type": "string", "minLength": 1}},
            "required": ["reason"],
        },
    }

    def together(first: str, second: str) -> dict[str, Any]:
        return {
            "if": {
                "properties": {first: {"type": "string", "minLength": 1}},
                "required": [first],
            },
            "then": {
                "properties": {second: {"type": "string", "minLength": 1}},
                "required": [second],
            },
        }

    notify, notify_update, providers, providers_update = _notify_schemas()
    problem = oa.problem_schema()
    shop_problem = {
        **problem,
        "properties": {
            **problem["properties"],
            "shop": {**oa.ref("ShopProfile"), "description": "stale_version: the profile now."},
        },
    }
    return {
        "BayCreate": oa.obj(
            {
                "code": {
                    "type": "string",
                    "pattern": bay_admin.CODE_PATTERN,
                    "description": "Fixed once the bay exists; orders name their bay by it.",
                },
                "name": oa.text(
                    bay_admin.NAME_MAX, "Shown on the screens; empty or blank: the code."
                ),
                "kind": {**kinds, "default": "general"},
                "capacity": oa.integer(
                    "Cars at once: 1 on a repair bay, up to "
                    f"{bay_admin.MAX_CAPACITY} on {' or '.join(bay_admin.MULTI_CAR_KINDS)}.",
                    minimum=1,
                    maximum=bay_admin.MAX_CAPACITY,
                ),
                "position": oa.integer("Place on the board, from 1; default last.", minimum=1),
            },
            ["code"],
            allOf=[several_cars],
        ),
        "BayUpdate": oa.obj(
            {
                "name": oa.text(bay_admin.NAME_MAX, min_length=1),
                "kind": oa.enum_of(BAY_KINDS),
                "capacity": oa.integer(
                    "Above one only with `kind` wash or parking_lane in the same request; "
                    "a bay made a repair kind holds one.",
                    minimum=1,
                    maximum=bay_admin.MAX_CAPACITY,
                ),
                "in_service": {
                    "type": "boolean",
                    "description": "false takes the bay out of service (or gives a new reason): "
                    "send `reason` with it. true brings it back.",
                },
                "reason": oa.text(
                    bay_admin.REASON_MAX,
                    "Why the bay is out of service (the board shows it); only with "
                    "`in_service` false.",
                ),
                "position": oa.integer("Place on the board, from 1.", minimum=1),
            },
            [],
            allOf=[several_cars, reason_goes_out, out_needs_reason],
        ),
        "ShopProfile": oa.obj(
            {
                "name": {"type": "string"},
                "address": {"type": "string"},
                "hotline": {
                    "type": "string",
                    "description": "On the job ticket, the customer page and the "
                    "expired-link page.",
                },
                "timezone": {"type": "string", "description": "IANA name."},
                "opening_hours": opening_hours,
                "lounge": lounge,
                "retention_days": retention,
                "stage_labels": labels,
                "checks_by_one_person_allowed": one_person,
                "comeback_days": comeback_days,
                "notify": notify,
                "notify_providers": providers,
                "appointments": _appointment_schema(required=True),
                "version": oa.integer("Counts every saved change; send it back with PATCH."),
            }
        ),
        "ShopUpdate": oa.obj(
            {
                "version": oa.integer("The version you read.", minimum=0),
                "name": oa.text(shop_settings.NAME_MAX, min_length=1),
                "address": oa.text(shop_settings.ADDRESS_MAX),
                "hotline": oa.text(shop_settings.HOTLINE_MAX),
                "timezone": {
                    **oa.enum_of(sorted(shop_settings.time_zones())),
                    "description": "An IANA name (Asia/Shanghai) the server knows.",
                },
                "opening_hours": oa.obj(
                    {
                        "open": {"anyOf": [hour, {"type": "string", "maxLength": 0}]},
                        "close": {"anyOf": [hour, {"type": "string", "maxLength": 0}]},
                        "breaks": oa.array(
                            oa.obj({"start": hour, "end": hour}),
                            maxItems=shop_settings.MAX_BREAKS,
                            description="Each ends after it starts, on the same day.",
                        ),
                        "closed_weekdays": oa.array(
                            oa.integer(minimum=1, maximum=7), uniqueItems=True, maxItems=6
                        ),
                    },
                    [],
                    description=opening_hours["description"] + " Opening and closing "
                    "differ. Replaces the hours as a whole.",
                    allOf=[together("open", "close"), together("close", "open")],
                ),
                "stage_labels": labels,
                "retention_days": retention,
                "checks_by_one_person_allowed": one_person,
                "comeback_days": comeback_days,
                "notify": notify_update,
                "notify_providers": providers_update,
                "appointments": _appointment_schema(required=False),
                "lounge": oa.obj(
                    {
                        "languages": lounge["properties"]["languages"],
                        "chime": lounge["properties"]["chime"],
                    },
                    [],
                ),
            },
            ["version"],
        ),
        "ShopProblem": shop_problem,
    }


def _appointment_schema(*, required: bool) -> dict[str, Any]:
    """The shop's appointment settings (shared/services/appointment_settings.py)
    as the profile shows them (every key) and as PATCH changes them (each key
    sent replaces its own)."""
    from shared.web import openapi as oa

    found = oa.obj(
        {
            "walk_in_share": {
                "type": "number",
                "minimum": 0,
                "maximum": appointment_settings.WALK_IN_SHARE_MAX,
                "description": "The part of labour and reception kept for walk-ins (0.3).",
            },
            "cars_per_advisor_per_slot": oa.integer(
                "Cars one advisor receives per 15 minutes (× active advisors).",
                minimum=1,
                maximum=appointment_settings.CARS_PER_ADVISOR_MAX,
            ),
            "grace_minutes": oa.integer(
                "A car not checked in this long after its start is a no-show.",
                minimum=0,
                maximum=appointment_settings.GRACE_MAX,
            ),
            "lead_minutes": oa.integer(
                "How soon after booking a slot may start.",
                minimum=0,
                maximum=appointment_settings.LEAD_MAX,
            ),
            "days_ahead": oa.integer(
                "How many days ahead the shop books.",
                minimum=1,
                maximum=appointment_settings.DAYS_AHEAD_MAX,
            ),
            "online_booking": {"type": "boolean", "description": "The public page /book/{shop}."},
            "phone_verification": {
                "type": "boolean",
                "description": "The public page texts a code to the phone first.",
            },
            "board_arrivals": {
                "type": "boolean",
                "description": "The board shows the next hour's arrivals.",
            },
        },
        None if required else [],
    )
    return found


def _notify_schemas() -> tuple[dict[str, Any], ...]:
    """The notification settings as the profile shows them and as PATCH
    changes them: (notify, notify update, providers, providers update)."""
    from shared.web import openapi as oa

    hour = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
    kinds = oa.obj(
        {kind: {"type": "boolean"} for kind in rules.AUTOMATIC_KINDS},
        description="Each automatic message loud (true: sent) or silent; a kind left out "
        "is loud. A one-off message from the desk is always the advisor's choice.",
    )
    quiet = oa.obj(
        {"start": hour, "end": hour},
        description="Non-urgent messages found inside these hours wait for their end, on "
        "the shop's clock (default 21:00–08:00). Start equal to end: no quiet hours.",
    )
    cap = oa.integer(
        "At most this many messages per order per shop day; the rest are suppressed (rate_cap).",
        minimum=1,
        maximum=rules.MAX_PER_DAY_LIMIT,
    )
    templates = {
        "type": "object",
        "description": "The shop's own texts: {kind: {locale: text with {shop} {link} …}}; "
        "a kind or language left out is sent in the standard words.",
    }
    notify = oa.obj(
        {
            "kinds": kinds,
            "quiet_hours": quiet,
            "max_per_order_per_day": cap,
            "templates": templates,
        }
    )
    notify_update = oa.obj(
        {
            "kinds": oa.obj(dict(kinds["properties"]), []),
            "quiet_hours": quiet,
            "max_per_order_per_day": cap,
            "templates": templates,
        },
        [],
        description="Each part sent replaces the stored one; the rest stay as they are.",
    )
    is_set = oa.obj(
        {"set": {"type": "boolean"}},
        description="A write-only credential: whether it is set, never its value.",
    )
    codes = {
        "type": "object",
        "additionalProperties": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
        "description": "{kind: the template code the provider approved}; a kind without "
        "one is not sent on this channel.",
    }

    def channel(public: dict[str, Any], templated: bool, channel_name: str) -> dict[str, Any]:
        fields = dict(public)
        if templated:
            fields["templates"] = codes
        for name in notify_settings.CREDENTIALS[channel_name]:
            fields[name] = is_set
        return oa.obj(fields)

    def channel_update(public: dict[str, Any], templated: bool, name: str) -> dict[str, Any]:
        fields = dict(public)
        if templated:
            fields["templates"] = codes
        for secret in notify_settings.CREDENTIALS[name]:
            fields[secret] = {
                "type": "string",
                "maxLength": notify_settings.SMTP_URL_MAX
                if secret == "smtp_url"
                else notify_settings.CREDENTIAL_MAX,
                "writeOnly": True,
                "description": "Write-only: sets or replaces it; empty removes it.",
            }
        return oa.obj(fields, [], type=["object", "null"])

    sms = {
        "provider": {"type": "string", "enum": [*notify_settings.SMS_PROVIDERS, ""]},
        "sign_name": oa.text(notify_settings.TEXT_MAX, "The SMS signature the carrier approved."),
        "app_id": oa.text(notify_settings.CREDENTIAL_MAX, "Tencent Cloud: the SmsSdkAppId."),
        "region": oa.text(
            notify_settings.CREDENTIAL_MAX, "Tencent Cloud: the region (ap-guangzhou)."
        ),
    }
    wechat = {"app_id": oa.text(notify_settings.CREDENTIAL_MAX, "The Official Account's AppID.")}
    email = {"mail_from": oa.text(notify_settings.CREDENTIAL_MAX, "The sender's address.")}
    providers = oa.obj(
        {
            rules.SMS: channel(sms, True, rules.SMS),
            rules.WECHAT: channel(wechat, True, rules.WECHAT),
            rules.EMAIL: channel(email, False, rules.EMAIL),
        },
        description="The providers' settings (a setting made here comes first, key by key; "
        "one left empty is taken from the server's environment). Credentials are "
        "write-only: shown as {set: true|false}.",
    )
    providers_update = oa.obj(
        {
            rules.SMS: channel_update(sms, True, rules.SMS),
            rules.WECHAT: channel_update(wechat, True, rules.WECHAT),
            rules.EMAIL: channel_update(email, False, rules.EMAIL),
        },
        [],
        description="Per channel: null removes its settings; a field sent replaces the "
        "stored one, an empty one removes it; templates replace the channel's as a whole.",
    )
    return notify, notify_update, providers, providers_update
