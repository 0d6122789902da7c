"""REST v1 administration: staff (issue 14, item 2): GET|POST /api/v1/staff,
PATCH /api/v1/staff/{staff_id}.

Admin and manager only (a bearer token of those roles, or their session
cookie with the CSRF token); views parse, authorise and call one service
each (shared/services/staff_admin.py). Bodies are closed (an unknown field is
a 422 naming it), mutations take an Idempotency-Key, and a PATCH sends the
``version`` it read: a change since is a 409 ``stale_version`` carrying the
current ``staff``. Another shop's id is a 404.

An Idempotency-Key binds the key to the request's fingerprint. For these
requests the PIN and the password go into it as a keyed hash (HMAC with the
app's secret key), never as themselves: the fingerprint is stored, and a
plain SHA-256 over a body that holds a password would let anyone who reads
the database test guesses against it quickly.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from shared.domain.errors import ValidationFailed
from shared.domain.policy import Command
from shared.services import staff_admin
from shared.services.commands import (
    CommandRequest,
    fingerprint,
    validate_idempotency_key,
)
from shared.services.staff_login import PASSWORD_MAX, PASSWORD_MIN
from shared.web.access import core, current_principal, require
from shared.web.http_commands import reply
from shared.web.openapi import (
    API,
    PROBLEM,
    READ_SECURITY,
    WRITE_SECURITY,
    Schema,
    array,
    enum_of,
    integer,
    obj,
    operation,
    problem_schema,
    ref,
    text,
    timestamp,
)
from shared.web.parsing import INT64_MAX, Body, json_body, query_text

blueprint = Blueprint("api_staff", __name__, url_prefix="/api/v1")

ADMINISTRATORS = Command.ADMINISTER
# Fields whose value never enters a stored fingerprint as itself.
SECRET_FIELDS = ("pin", "password")


class StaffBody(Body):
    """A JSON body with the getters staff requests need besides ``Body``'s:
    a list of strings, and a field that may be left out (None) as opposed
    to sent empty."""

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationFailed(self._name(key), f"{self._name(key)} must be a list of strings.")
        return tuple(value)

    def given_string(self, key: str) -> str | None:
        """The text of a field that was sent, or None when left out (or null)."""
        value = self.string(key)
        return value if self.data.get(key) is not None else None

    def given_boolean(self, key: str) -> bool | None:
        value = self.boolean(key)
        return value if self.data.get(key) is not None else None


def _body() -> StaffBody:
    return StaffBody(json_body().data)


def _without_secrets(data: dict[str, Any]) -> dict[str, Any]:
    """The body as fingerprinted: each secret as an HMAC under the app's key."""
    key = core().settings.secret_key.encode()
    kept = dict(data)
    for name in SECRET_FIELDS:
        if isinstance(kept.get(name), str):
            digest = hmac.new(key, kept[name].encode("utf-8", "surrogatepass"), hashlib.sha256)
            kept[name] = "hmac:" + digest.hexdigest()
    return kept


def _command(body: StaffBody) -> CommandRequest:
    """As ``http_commands.command_request``, with the secrets kept out of the
    stored fingerprint (module docstring)."""
    principal = current_principal()
    assert principal is not None
    body.finish()
    key = validate_idempotency_key(request.headers.get("Idempotency-Key"))
    return CommandRequest(
        actor=principal.actor(),
        shop_id=principal.shop_id,
        idempotency_key=key,
        fingerprint=fingerprint(request.method, request.path, _without_secrets(body.data))
        if key
        else None,
    )


def _shop_id() -> int:
    principal = current_principal()
    assert principal is not None
    return principal.shop_id


@blueprint.get("/staff")
@require(ADMINISTRATORS)
def list_staff() -> ResponseReturnValue:
    raw = query_text("active")
    if raw not in (None, "true", "false"):
        raise ValidationFailed("active", "active must be true or false.")
    active = None if raw is None else raw == "true"
    return jsonify({"staff": staff_admin.list_staff(core(), _shop_id(), active=active)})


@blueprint.post("/staff")
@require(ADMINISTRATORS)
def add_staff() -> ResponseReturnValue:
    body = _body()
    new = staff_admin.NewStaff(
        name=body.string("name", required=True),
        role=body.string("role", required=True),
        display_name=body.string("display_name"),
        qualifications=body.strings("qualifications") or (),
        phone=body.string("phone"),
        badge=body.given_string("badge"),
        pin=body.given_string("pin"),
        password=body.given_string("password"),
    )
    return reply(staff_admin.add_staff(core(), _command(body), new))


@blueprint.patch("/staff/<int:staff_id>")
@require(ADMINISTRATORS)
def update_staff(staff_id: int) -> ResponseReturnValue:
    body = _body()
    version = body.string("version", required=True)
    locked = body.given_boolean("locked")
    if locked is True:
        raise ValidationFailed("locked", "Only an unlock (false) can be asked for.")
    changes = staff_admin.StaffChanges(
        name=body.given_string("name"),
        display_name=body.given_string("display_name"),
        role=body.given_string("role"),
        qualifications=body.strings("qualifications"),
        phone=body.given_string("phone"),
        badge=body.given_string("badge"),
        pin=body.given_string("pin"),
        password=body.given_string("password"),
        active=body.given_boolean("active"),
        unlock=locked is False,
        leave=body.strings("leave"),
    )
    outcome = staff_admin.update_staff(core(), _command(body), staff_id, changes, version=version)
    return reply(outcome)


# ------------------------------------------------------------ OpenAPI


def _staff_problem(description: str) -> Schema:
    return {
        "description": description,
        "headers": {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}},
        "content": {PROBLEM: {"schema": ref("StaffProblem")}},
    }


def _staff_reply(description: str, status: int) -> dict[int, Schema]:
    return {
        status: {
            "description": description,
            "headers": {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}},
            "content": {"application/json": {"schema": ref("Staff")}},
        },
        403: _staff_problem(
            "forbidden: not an admin or manager, a manager touching an admin's account or "
            "granting the admin role, or the CSRF check failed (session cookie)."
        ),
        422: _staff_problem(
            "validation_error with field and reason (see docs/admin/staff.md), or "
            "idempotency_key_reuse."
        ),
    }


def openapi_paths() -> dict[str, Any]:
    """This module's paths for the OpenAPI document (merged per path and method)."""
    roles = "Roles: admin, manager (only an admin grants the admin role or changes an admin)."
    return {
        f"{API}/staff": {
            "get": operation(
                "listStaff",
                "The shop's staff",
                "admin",
                {
                    200: {
                        "description": "Active first, then by name.",
                        "content": {"application/json": {"schema": ref("StaffList")}},
                    }
                },
                errors=(401, 403, 422, 429),
                security=READ_SECURITY,
                parameters=[
                    {
                        "name": "active",
                        "in": "query",
                        "schema": enum_of(("true", "false")),
                        "description": "Only the active (true) or the inactive (false).",
                    }
                ],
                description=f"{roles} PINs and passwords are never shown, only whether set.",
            ),
            "post": operation(
                "addStaff",
                "Add a staff member",
                "admin",
                _staff_reply("The new staff member.", 201),
                errors=(401, 413, 429),
                security=WRITE_SECURITY,
                body="StaffCreate",
                idempotent=True,
                description=f"{roles} A technician needs badge and pin (the kiosk sign-in); "
                "every other role a password, which its owner must change at the first "
                "sign-in. Names and badges are unique per shop.",
            ),
        },
        f"{API}/staff/{{staff_id}}": {
            "patch": operation(
                "updateStaff",
                "Change a staff member",
                "admin",
                {
                    **_staff_reply("The staff member after the change.", 200),
                    404: _staff_problem("not_found: no such staff member in this shop."),
                    409: _staff_problem(
                        "stale_version: the staff member changed since the version sent; "
                        "staff is the current state."
                    ),
                },
                errors=(401, 413, 429),
                security=WRITE_SECURITY,
                parameters=[
                    {
                        "name": "staff_id",
                        "in": "path",
                        "required": True,
                        "schema": integer(minimum=1, maximum=INT64_MAX),
                    }
                ],
                body="StaffUpdate",
                idempotent=True,
                description=f"{roles} All the fields sent change at once, or none. active "
                "false ends the person's office and kiosk sessions and closes their running "
                "labour clock at once; a new pin ends their kiosk sessions; a password set "
                "for someone else is a reset (must_change_password; their sessions end); "
                "locked false lifts a locked badge and a locked sign-in.",
            )
        },
    }


def openapi_schemas() -> dict[str, Any]:
    roles = enum_of(staff_admin.ROLES)
    qualifications = array(enum_of(staff_admin.QUALIFICATIONS))
    # A listed member may also carry the group's mark, which no shop grants here.
    held = array(enum_of((*staff_admin.QUALIFICATIONS, staff_admin.GROUP)))
    pin = {
        "type": "string",
        "pattern": f"^[0-9]{{{staff_admin.PIN_MIN},{staff_admin.PIN_MAX}}}$",
        "description": "Digits; never shown back.",
    }
    password = {
        **text(PASSWORD_MAX, "Never shown back.", min_length=PASSWORD_MIN),
    }
    problem = problem_schema()
    problem["properties"] = {
        **problem["properties"],
        "reason": {
            "type": "string",
            "description": "validation_error: why, as a stable word (docs/admin/staff.md).",
        },
        "staff": {**ref("Staff"), "description": "stale_version: the staff member as now."},
    }
    problem["description"] = "RFC 9457 problem details of the staff endpoints."
    return {
        "Staff": obj(
            {
                "id": integer(),
                "name": {
                    "type": "string",
                    "description": "What they sign in with; unique per shop.",
                },
                "display_name": {
                    "type": "string",
                    "description": "The name customers see; empty: name.",
                },
                "role": roles,
                "qualifications": held,
                "phone": {"type": "string"},
                "badge": {"type": ["string", "null"]},
                "has_pin": {"type": "boolean"},
                "has_password": {"type": "boolean"},
                "must_change_password": {
                    "type": "boolean",
                    "description": "An admin reset the password: the owner chooses their own "
                    "at the next sign-in.",
                },
                "active": {"type": "boolean"},
                "locked": {
                    "type": "boolean",
                    "description": "The badge (wrong PINs) or the sign-in (wrong passwords) "
                    "is locked now.",
                },
                "running_clock": {
                    "anyOf": [
                        obj({"order_id": integer(), "started_at": timestamp()}),
                        {"type": "null"},
                    ]
                },
                "leave": array(
                    {"type": "string", "format": "date"},
                    description="Leave days from the shop's today on: a technician on leave "
                    "brings no hours to that day's appointment capacity.",
                ),
                "created_at": timestamp(),
                "version": {
                    "type": "string",
                    "description": "Send it back with a change: a digest of the editable "
                    "state (a change since is 409 stale_version).",
                },
            },
            description="A staff member as admins read them.",
        ),
        "StaffList": obj({"staff": array(ref("Staff"))}),
        "StaffCreate": obj(
            {
                "name": text(staff_admin.NAME_MAX, min_length=1),
                "role": roles,
                "display_name": text(staff_admin.DISPLAY_NAME_MAX),
                "qualifications": qualifications,
                "phone": text(staff_admin.PHONE_MAX),
                "badge": text(40, "The kiosk badge (technicians)."),
                "pin": pin,
                "password": password,
            },
            ["name", "role"],
        ),
        "StaffUpdate": obj(
            {
                "version": {"type": "string", "maxLength": 64},
                "name": text(staff_admin.NAME_MAX, min_length=1),
                "display_name": text(staff_admin.DISPLAY_NAME_MAX),
                "role": roles,
                "qualifications": qualifications,
                "phone": text(staff_admin.PHONE_MAX),
                "badge": text(40, "Empty takes the badge and its PIN away."),
                "pin": pin,
                "password": password,
                "active": {"type": "boolean"},
                "locked": {"type": "boolean", "enum": [False], "description": "false: unlock."},
                "leave": array(
                    {"type": "string", "format": "date"},
                    maxItems=366,
                    description="Replaces the leave days from today on (past days stay).",
                ),
            },
            ["version"],
        ),
        "StaffProblem": problem,
    }
