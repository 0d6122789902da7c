"""REST v1: comebacks (返修) and the labour-integrity report (issue 16).

- ``POST /api/v1/orders/{id}/comeback`` {of_order_id, note, version}: the
  advisor marks the order a comeback of an earlier visit of the same car
  (``comebacks.flag_comeback``); ``POST …/comeback/withdrawal`` {reason,
  version} withdraws a mark set by mistake; ``GET …/comeback-candidates``
  lists the earlier delivered visits it could be a comeback of.
- ``GET /api/v1/reports/labour-exceptions?from=&to=`` and ``….csv``: the
  foreman's daily labour exceptions (clocks closed at shift end, jobs over
  2× their standard hours) for every shop day of a range
  (``labour.exceptions_between``): a read that never closes a clock.

Views parse, authorise and call one service each; this module documents
its own paths and schemas (``openapi_paths``, ``openapi_schemas``), which
shared/web/openapi.py merges.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from shared.domain import comebacks as rules
from shared.domain import labour as labour_rules
from shared.domain.policy import Command
from shared.services import comebacks, labour, report_export
from shared.services.commands import CommandRequest
from shared.web import report_params
from shared.web.access import STAFF_ROLES, core, current_principal, require
from shared.web.http_commands import command_request, reply
from shared.web.parsing import Body, json_body

blueprint = Blueprint("api_comebacks", __name__, url_prefix="/api/v1")

FLAGGERS = Command.RECEPTION
# Who reads the labour-integrity report: the managers, and the foreman whose
# console lists the same exceptions day by day.
LABOUR_READERS = frozenset({"manager", "admin", "foreman"})
CSV_MIMETYPE = "text/csv"


def _principal_shop() -> int:
    principal = current_principal()
    assert principal is not None  # @require let it through
    return principal.shop_id


def _command(body: Body) -> CommandRequest:
    principal = current_principal()
    assert principal is not None
    return command_request(principal, body)


# ------------------------------------------------------------------ comebacks


@blueprint.post("/orders/<int:order_id>/comeback")
@require(FLAGGERS)
def flag_comeback(order_id: int) -> ResponseReturnValue:
    body = json_body()
    of_order_id = body.required_integer("of_order_id")
    note = body.string("note", required=True, multiline=True)
    version = body.required_integer("version")
    outcome = comebacks.flag_comeback(
        core(), _command(body), order_id, of_order_id=of_order_id, note=note, version=version
    )
    return reply(outcome)


@blueprint.post("/orders/<int:order_id>/comeback/withdrawal")
@require(FLAGGERS)
def withdraw_comeback(order_id: int) -> ResponseReturnValue:
    body = json_body()
    reason = body.string("reason", required=True, multiline=True)
    version = body.required_integer("version")
    outcome = comebacks.unflag_comeback(
        core(), _command(body), order_id, reason=reason, version=version
    )
    return reply(outcome)


@blueprint.get("/orders/<int:order_id>/comeback-candidates")
@require(STAFF_ROLES)
def comeback_candidates(order_id: int) -> ResponseReturnValue:
    return jsonify(comebacks.candidates(core(), _principal_shop(), order_id))


# ------------------------------------------------------------------ labour integrity


def _range() -> tuple[date, date]:
    """``from`` and ``to`` (shop days, inclusive), both required, read and
    refused as the reports read them (their words name the report's days)."""
    return report_params.report_day("from"), report_params.report_day("to")


@blueprint.get("/reports/labour-exceptions")
@require(LABOUR_READERS)
def labour_exceptions() -> ResponseReturnValue:
    start, end = _range()
    found = labour.exceptions_between(core(), _principal_shop(), start, end)
    return jsonify({"from": start.isoformat(), "to": end.isoformat(), "exceptions": found})


def _kinds() -> dict[str, str]:
    return {
        labour_rules.END_SHIFT: _("Clock left running at shift end"),
        "overrun": _("Over 2× the standard hours"),
    }


def csv_columns() -> list[tuple[str, str]]:
    """The export's columns: key, and its header in the reader's language."""
    return [
        ("day", _("Day")),
        ("exception", _("Exception")),
        ("number", _("Queue number")),
        ("plate", _("Plate")),
        ("technicians", _("Technicians")),
        ("clocked_hours", _("Clocked hours")),
        ("standard_hours", _("Standard hours")),
        ("order_id", _("Order id")),
        ("kind", _("Exception code")),
    ]


def csv_rows(found: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """One row per exception, the kind in words beside its code."""
    kinds = _kinds()
    for e in found:
        yield {
            **e,
            "exception": kinds.get(e["kind"], e["kind"]),
            "technicians": "、".join(t["name"] for t in e["technicians"] if t["name"]),
            "standard_hours": e["standard_hours"] if e["kind"] == "overrun" else None,
        }


@blueprint.get("/reports/labour-exceptions.csv")
@require(LABOUR_READERS)
def labour_exceptions_csv() -> ResponseReturnValue:
    start, end = _range()
    # Read (and the range checked) before the first byte: a wrong range is
    # an error, not a broken file.
    found = labour.exceptions_between(core(), _principal_shop(), start, end)
    # UTF-8 with a byte-order mark, every text cell escaped against formulas
    # (a plate or a name is whatever was typed): the reports' own writer.
    lines = report_export.csv_stream(csv_columns(), csv_rows(found))
    response = Response(stream_with_context(lines), mimetype=CSV_MIMETYPE)
    name = f"labour-exceptions-{start.isoformat()}-{end.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------ OpenAPI


def openapi_paths() -> dict[str, Any]:
    """This module's part of the OpenAPI document (shared/web/openapi.py merges it)."""
    from shared.web import openapi as oa

    order_id = {"$ref": "#/components/parameters/OrderId"}
    conflict = {
        "description": "already_flagged (with `comeback`, the mark that stands), not_flagged, "
        "stale_version; each carries the order as it is now.",
        "content": {oa.PROBLEM: {"schema": oa.ref("ComebackProblem")}},
        "headers": {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}},
    }
    changed = oa._json_response(
        "The order after the change, and its comeback mark.",
        oa.ref("ComebackChange"),
        replayable=True,
    )
    day = {"type": "string", "format": "date"}
    dates = [
        {
            "name": "from",
            "in": "query",
            "required": True,
            "schema": day,
            "description": "The first shop day (YYYY-MM-DD, the shop's calendar).",
        },
        {
            "name": "to",
            "in": "query",
            "required": True,
            "schema": day,
            "description": f"The last shop day, inclusive; at most "
            f"{labour.EXCEPTIONS_MAX_DAYS} days after `from`.",
        },
    ]
    roles = "Roles: admin, manager, advisor. "
    readers = "Roles: admin, manager, foreman. "
    report_note = (
        "For each shop day of the range, the daily exceptions of the labour clock as the "
        "foreman's console lists them: a clock closed at the shift end (kind shift_end, "
        "flagged) and an order whose clocked hours that day pass 2× its standard hours "
        "(kind overrun). Days already closed are read from the clock segments as they "
        "are; a clock still left running past the shift end is listed as the close-shift "
        "command will close it. A read: it closes nothing (closing the shift is "
        "`POST /foreman/api/close-shift`). Days after today are empty."
    )
    return {
        f"{oa.API}/orders/{{order_id}}/comeback": {
            "post": oa.operation(
                "flagComeback",
                "Mark the order a comeback (返修) of an earlier visit of the same car",
                "orders",
                {200: changed, 409: conflict},
                errors=(401, 403, 404, 413, 422, 429),
                security=oa.WRITE_SECURITY,
                parameters=[order_id],
                body="ComebackFlag",
                idempotent=True,
                description=roles + "The earlier visit (`of_order_id`) must be this shop's, "
                "of the same plate, delivered at most the shop's `comeback_days` shop days "
                "before this order's check-in (else 422 validation_error on of_order_id, "
                "saying which rule); `note` is the fault. Records comeback_flagged "
                "{of_order_id, of_number, days, note}. An order carries one mark at a "
                "time: 409 already_flagged with the mark that stands.",
            )
        },
        f"{oa.API}/orders/{{order_id}}/comeback/withdrawal": {
            "post": oa.operation(
                "withdrawComeback",
                "Withdraw a comeback mark set by mistake",
                "orders",
                {200: changed, 409: conflict},
                errors=(401, 403, 404, 413, 422, 429),
                security=oa.WRITE_SECURITY,
                parameters=[order_id],
                body="ComebackWithdrawal",
                idempotent=True,
                description=roles + "Records comeback_unflagged {of_order_id, reason}; the "
                "order may be marked again. 409 not_flagged when it carries no mark. "
                "Reports count a mark only while it stands.",
            )
        },
        f"{oa.API}/orders/{{order_id}}/comeback-candidates": {
            "get": oa.operation(
                "getComebackCandidates",
                "The order's comeback mark, and the earlier visits it could be a comeback of",
                "orders",
                {200: oa._json_response("Mark and candidates.", oa.ref("ComebackCandidates"))},
                errors=(*oa.STAFF_READ_ERRORS, 404),
                parameters=[order_id],
                description="Staff roles. The candidates are this shop's delivered orders of "
                "the same plate whose delivery lies at most `comeback_days` shop days before "
                "this order's check-in, latest first (at most "
                f"{comebacks.CANDIDATES_MAX}).",
            )
        },
        f"{oa.API}/reports/labour-exceptions": {
            "get": oa.operation(
                "listLabourExceptions",
                "Labour integrity: the clock's daily exceptions over a range of days",
                "admin",
                {
                    200: oa._json_response(
                        "Every exception of the range, oldest day first.",
                        oa.ref("LabourExceptions"),
                    )
                },
                errors=(*oa.STAFF_READ_ERRORS, 422),
                parameters=dates,
                description=readers + report_note,
            )
        },
        f"{oa.API}/reports/labour-exceptions.csv": {
            "get": oa.operation(
                "exportLabourExceptions",
                "Labour integrity as CSV",
                "admin",
                {
                    200: {
                        "description": "The same exceptions as CSV: UTF-8 with a byte-order "
                        "mark, a header in the reader's language, one row per exception (day, "
                        "exception, queue number, plate, technicians, clocked hours, standard "
                        "hours, order id, code); a cell starting with = + - @, tab or CR is "
                        "prefixed with an apostrophe.",
                        "content": {CSV_MIMETYPE: {"schema": {"type": "string"}}},
                    }
                },
                errors=(*oa.STAFF_READ_ERRORS, 422),
                parameters=dates,
                description=readers + report_note,
            )
        },
    }


def openapi_schemas() -> dict[str, Any]:
    """The component schemas this module's paths refer to."""
    from shared.web import openapi as oa

    problem = oa.problem_schema()
    nullable_date = {"type": ["string", "null"], "format": "date"}
    mark = oa.obj(
        {
            "of_order_id": oa.integer("The earlier visit."),
            "of_number": oa.integer("Its queue number (of its day)."),
            "of_business_day": {**nullable_date, "description": "The day of that number."},
            "of_delivered_at": oa.timestamp("When it was delivered.", nullable=True),
            "days": oa.integer("Shop days from that delivery to this check-in.", minimum=0),
            "note": {"type": "string", "description": "The fault, in the advisor's words."},
            "at": oa.timestamp("When the mark was set."),
            "by": {"type": "string", "description": "Who set it."},
        },
        description="A comeback mark that stands.",
    )
    nullable_mark = {"anyOf": [oa.ref("ComebackMark"), {"type": "null"}]}
    technician = oa.obj({"id": oa.integer(), "name": {"type": "string"}})
    return {
        "ComebackFlag": oa.obj(
            {
                "of_order_id": oa.integer("The earlier visit this is a comeback of.", minimum=1),
                "note": oa.text(
                    rules.MAX_TEXT,
                    "The fault (the same as last time).",
                    min_length=1,
                    multiline=True,
                ),
                "version": oa.integer("The order's version you read.", minimum=1),
            },
        ),
        "ComebackWithdrawal": oa.obj(
            {
                "reason": oa.text(
                    rules.MAX_TEXT, "Why the mark was wrong.", min_length=1, multiline=True
                ),
                "version": oa.integer("The order's version you read.", minimum=1),
            },
        ),
        "ComebackMark": mark,
        "ComebackChange": oa.obj(
            {"order": oa.ref("Order"), "comeback": nullable_mark},
            description="The order after the command, and the mark that stands (null once "
            "withdrawn).",
        ),
        "ComebackCandidates": oa.obj(
            {
                "order_id": oa.integer(),
                "plate": {"type": "string"},
                "checked_in_at": oa.timestamp(
                    "When the car came in (null while only booked).", nullable=True
                ),
                "comeback_days": oa.integer(
                    "The shop's window.", minimum=rules.MIN_DAYS, maximum=rules.MAX_DAYS
                ),
                "comeback": nullable_mark,
                "candidates": oa.array(
                    oa.obj(
                        {
                            "order_id": oa.integer(),
                            "number": oa.integer(),
                            "business_day": {"type": "string", "format": "date"},
                            "delivered_at": oa.timestamp(),
                            "days": oa.integer(
                                "Shop days from its delivery to this check-in.", minimum=0
                            ),
                            "complaint": {"type": "string"},
                            "items": oa.array({"type": "string"}, description="Work done."),
                        }
                    ),
                    description="Latest delivery first.",
                ),
            }
        ),
        "ComebackProblem": {
            **problem,
            "properties": {
                **problem["properties"],
                "comeback": {**oa.ref("ComebackMark"), "description": "already_flagged."},
            },
        },
        "LabourExceptions": oa.obj(
            {
                "from": {"type": "string", "format": "date"},
                "to": {"type": "string", "format": "date"},
                "exceptions": oa.array(
                    oa.obj(
                        {
                            "day": {"type": "string", "format": "date"},
                            "kind": oa.enum_of([labour_rules.END_SHIFT, "overrun"]),
                            "order_id": oa.integer(),
                            "number": {"type": ["integer", "null"]},
                            "plate": {"type": "string"},
                            "technicians": oa.array(technician),
                            "detail": {"type": "string"},
                            "clocked_hours": {"type": "number"},
                            "standard_hours": {"type": "number"},
                        }
                    )
                ),
            }
        ),
    }
