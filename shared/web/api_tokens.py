"""REST v1 administration: API tokens and the audit log (issue 14, items 6 and
7): GET /api/v1/tokens, DELETE /api/v1/tokens/{id}, GET /api/v1/audit.

Admin and manager only; views parse, authorise and call one service each.
Another shop's token, order or person is as unknown as a missing one (404)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from shared.domain.errors import ValidationFailed
from shared.domain.policy import Command
from shared.services import api_tokens, audit, queries
from shared.services.auth import TOKEN_ROLES, Principal
from shared.web.access import core, current_principal, require
from shared.web.http_commands import command_request, reply
from shared.web.openapi import (
    API,
    JSON,
    SINGLE_LINE_PATTERN,
    STAFF_READ_ERRORS,
    WRITE_SECURITY,
    Schema,
    array,
    enum_of,
    integer,
    obj,
    operation,
    ref,
    timestamp,
)
from shared.web.parsing import INT64_MAX, Body, json_body, parse_date, query_flag, query_text

blueprint = Blueprint("api_tokens", __name__, url_prefix="/api/v1")

ADMINISTER = Command.ADMINISTER
CSV_MIMETYPE = "text/csv"
AUDIT_FORMATS = ("json", "csv")


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # @require let it through
    return principal


@blueprint.get("/tokens")
@require(ADMINISTER)
def list_tokens() -> ResponseReturnValue:
    tokens = api_tokens.list_tokens(core(), _principal().shop_id)
    return jsonify({"tokens": [token.as_json() for token in tokens]})


@blueprint.delete("/tokens/<int:token_id>")
@require(ADMINISTER)
def revoke_token(token_id: int) -> ResponseReturnValue:
    # No body is needed; one sent must be an empty JSON object.
    body = json_body() if request.get_data(cache=True) else Body({})
    return reply(api_tokens.revoke_token(core(), command_request(_principal(), body), token_id))


def _row_id(name: str) -> int | None:
    raw = query_text(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= INT64_MAX:
        raise ValidationFailed(name, f"{name} must be a whole number from 1.")
    return int(raw)


def _day(name: str) -> date | None:
    raw = query_text(name)
    return parse_date(name, raw) if raw else None


def _cursor() -> audit.Cursor | None:
    raw = query_text("before")
    return audit.Cursor.parse(raw) if raw else None


def _kind() -> str | None:
    kind = query_text("kind") or None
    if kind is not None and kind not in audit.SOURCES:
        raise ValidationFailed("kind", "kind is order or admin.")
    return kind


def audit_query(*, paged: bool = True) -> audit.AuditQuery:
    """The audit filters from the query string (the REST API's and the
    admin page's): order_id, actor, day (YYYY-MM-DD on the shop's calendar),
    kind (order or admin), estimates, and for a page the cursor (before) and
    limit. The export (``paged`` False) takes every record the filters
    select: a cursor and limit sent with it are checked, and left aside."""
    limit = _row_id("limit") or audit.PAGE_SIZE
    if limit > audit.MAX_PAGE_SIZE:
        raise ValidationFailed("limit", f"limit must be from 1 to {audit.MAX_PAGE_SIZE}.")
    before = _cursor()
    return audit.AuditQuery(
        order_id=_row_id("order_id"),
        actor=query_text("actor") or None,
        day=_day("day"),
        before=before if paged else None,
        limit=limit if paged else audit.PAGE_SIZE,
        estimates=query_flag("estimates"),
        kind=_kind(),
    )


def audit_csv(shop_id: int, query: audit.AuditQuery, filename: str) -> Response:
    """The export as a download. The filters are checked before the first
    byte (a wrong one is an error, not a broken file); rows are streamed."""
    zone = queries.shop_timezone(core(), shop_id)
    lines = audit.audit_csv(core(), shop_id, zone, query)
    response = Response(stream_with_context(lines), mimetype=CSV_MIMETYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/audit")
@require(ADMINISTER)
def audit_log() -> ResponseReturnValue:
    shop_id = _principal().shop_id
    wanted = query_text("format") or "json"
    if wanted not in AUDIT_FORMATS:
        raise ValidationFailed("format", "format is json or csv.")
    if wanted == "csv":
        return audit_csv(shop_id, audit_query(paged=False), "audit.csv")
    zone = queries.shop_timezone(core(), shop_id)
    page = audit.audit_page(core(), shop_id, zone, audit_query())
    return jsonify(
        {
            "events": [entry.as_json() for entry in page.entries],
            "next_before": page.next_before,
        }
    )


# ------------------------------------------------------------ OpenAPI

ROLES_NOTE = "Roles: admin, manager."
# What the actor filter takes (``audit._actors``): a group, a person's or a
# token's id, or any other reference in one line of stored text.
_ONE_LINE_CHARACTER = SINGLE_LINE_PATTERN.removeprefix("^").removesuffix("*$")
ACTOR_PATTERN = (
    f"^(customer|system|(user|token):[0-9]{{1,18}}|(customer|system):{_ONE_LINE_CHARACTER}+)$"
)


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _filter(name: str, schema: Schema, description: str) -> Schema:
    """A query parameter that may also be sent empty, meaning no filter (the
    admin page's GET form sends its empty fields)."""
    either = {"anyOf": [schema, {"type": "string", "maxLength": 0}]}
    return _query(name, either, f"{description} Empty: as if not sent.")


def openapi_paths() -> dict[str, Any]:
    """This module's paths for the OpenAPI document (merged per path and method)."""
    row_id = integer(minimum=1, maximum=INT64_MAX)
    token_id = {"name": "token_id", "in": "path", "required": True, "schema": row_id}
    revoke = operation(
        "revokeToken",
        "Revoke an API token",
        "admin",
        {
            200: {
                "description": "The token, revoked (revoking a revoked token changes nothing).",
                "content": {JSON: {"schema": ref("ApiToken")}},
                "headers": {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}},
            }
        },
        errors=(401, 403, 404, 413, 422, 429),
        security=WRITE_SECURITY,
        parameters=[token_id],
        idempotent=True,
        description=f"{ROLES_NOTE} Idempotent: the token stays revoked from its first "
        "revocation. Its open Socket.IO connections are cut at once in the process that "
        "revoked it and within a few seconds in every other; REST calls with it are refused "
        "(401) within a few seconds everywhere. Another shop's token is 404. No body is "
        "needed (an empty JSON object is accepted).",
    )
    revoke["requestBody"] = {"required": False, "content": {JSON: {"schema": ref("TokenRevoke")}}}
    return {
        f"{API}/tokens": {
            "get": operation(
                "listTokens",
                "The shop's API tokens",
                "admin",
                {
                    200: {
                        "description": "Working tokens first, then revoked ones; never a secret.",
                        "content": {JSON: {"schema": ref("ApiTokenList")}},
                    }
                },
                errors=STAFF_READ_ERRORS,
                description=f"{ROLES_NOTE} Last use is noted at most once a minute per token.",
            )
        },
        f"{API}/tokens/{{token_id}}": {"delete": revoke},
        f"{API}/audit": {
            "get": operation(
                "listAudit",
                "The audit log: every command's record, newest first",
                "admin",
                {
                    200: {
                        "description": "A page of records (format=json), or every record the "
                        "filters select as CSV (format=csv; times on the shop's clock; a cell "
                        "starting with = + - @, tab or CR is prefixed with an apostrophe).",
                        "content": {
                            JSON: {"schema": ref("AuditPage")},
                            CSV_MIMETYPE: {"schema": {"type": "string"}},
                        },
                    }
                },
                errors=(*STAFF_READ_ERRORS, 404, 422),
                parameters=[
                    _filter(
                        "order_id",
                        row_id,
                        "Only this order's events (no administration records; 404: not this "
                        "shop's).",
                    ),
                    _filter(
                        "actor",
                        {"type": "string", "maxLength": audit.ACTOR_MAX, "pattern": ACTOR_PATTERN},
                        "Only this author: user:<id> (with the tokens made for that person), "
                        "token:<id>, customer:<id>, system:<clock>, or customer / system for "
                        "all of them (404: a user or token not of this shop).",
                    ),
                    _filter(
                        "day",
                        {"type": "string", "format": "date"},
                        "Only this day, midnight to midnight on the shop's clock.",
                    ),
                    _filter(
                        "kind",
                        enum_of(audit.SOURCES),
                        "order: only the orders' events; admin: only the administration "
                        "commands (staff, bays, shop profile, API tokens, screens).",
                    ),
                    _filter(
                        "before",
                        {"type": "string", "pattern": audit.CURSOR_PATTERN},
                        "The cursor: next_before of the previous page (opaque; a whole number, "
                        "the cursor before administration records, still pages the orders' "
                        "events).",
                    ),
                    _filter(
                        "limit",
                        integer(minimum=1, maximum=audit.MAX_PAGE_SIZE),
                        f"Events per page (default {audit.PAGE_SIZE}).",
                    ),
                    _query(
                        "estimates",
                        enum_of(("true", "false")),
                        "true: list the engine's estimate revisions (eta_revised) too.",
                    ),
                    _filter("format", enum_of(AUDIT_FORMATS), "json (default) or csv."),
                ],
                description=f"{ROLES_NOTE} Two logs merged newest first: the orders' events "
                "(source order, with seq and the order) and the administration commands "
                "(source admin, with id and target). The device is not recorded: for a "
                "person, device is the kiosk they were signed in on at that moment (null for "
                "an office PC). The customers' name, phone, VIN and free text are left out "
                "of data; an administration record's data never holds a PIN, password, "
                "token secret or hash.",
            )
        },
    }


def openapi_schemas() -> dict[str, Any]:
    token = obj(
        {
            "id": integer(),
            "name": {"type": "string"},
            "role": enum_of(TOKEN_ROLES),
            "user_id": {"type": ["integer", "null"], "description": "The person it acts for."},
            "active": {"type": "boolean"},
            "created_at": timestamp(),
            "last_used_at": timestamp("To the minute; null: never used since 0.15.", nullable=True),
            "revoked_at": timestamp(nullable=True),
        }
    )
    revoke_body = obj({}, [])
    revoke_body["description"] = "Empty: revoking takes no fields."
    nullable_integer = {"type": ["integer", "null"]}
    event = obj(
        {
            "source": enum_of(audit.SOURCES),
            "seq": {**nullable_integer, "description": "An order event's sequence number."},
            "id": {**nullable_integer, "description": "An administration record's id."},
            "at": timestamp(),
            "order_id": nullable_integer,
            "number": {**nullable_integer, "description": "The order's queue number."},
            "plate": {"type": ["string", "null"]},
            "type": {
                "type": "string",
                "description": "The event type (docs/EVENTS.md) or the administration command "
                "(docs/admin/tokens-and-audit.md): staff_added, staff_changed, "
                "staff_deactivated, staff_reactivated, pin_set, password_reset, badge_unlocked, "
                "bay_added, bay_changed, shop_changed, token_created, token_revoked, "
                "device_paired, device_renamed, device_revoked.",
            },
            "target": {
                "type": ["string", "null"],
                "description": "What an administration command changed: staff:<id>, "
                "bay:<code>, shop, token:<id> or device:<id>.",
            },
            "actor": {
                "type": "string",
                "description": "user:<id>, token:<id>, customer:<id>, system:<clock> or "
                "system:cli.",
            },
            "actor_name": {"type": "string"},
            "via": enum_of(("staff", "token", "customer", "system")),
            "device": {
                "anyOf": [obj({"id": integer(), "name": {"type": "string"}}), {"type": "null"}],
                "description": "The kiosk the person was signed in on then, if any.",
            },
            "data": {
                "type": "object",
                "description": "The event's fields, without the customer's personal data; for "
                "an administration command the fields it set, or its changes as "
                "{field: {old, new}}.",
            },
        }
    )
    return {
        "ApiToken": token,
        "ApiTokenList": obj({"tokens": array(ref("ApiToken"))}),
        "TokenRevoke": revoke_body,
        "AuditEvent": event,
        "AuditPage": obj(
            {
                "events": array(ref("AuditEvent")),
                "next_before": {
                    "type": ["string", "null"],
                    "pattern": audit.CURSOR_PATTERN,
                    "description": "Pass as before= for the next (older) page; null: no more.",
                },
            }
        ),
    }
