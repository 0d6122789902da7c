"""REST v1: the manager's reports (issue 16; definitions in docs/REPORTS.md).

- ``GET /api/v1/reports/summary?from=&to=[&group=day|week|month]``: every
  figure of the range, per period when grouped, and the previous period.
- ``GET /api/v1/reports/technicians?from=&to=``, ``…/advisors?from=&to=``.
- ``GET /api/v1/reports/orders?from=&to=[&only=][&limit=][&offset=]``: the
  orders behind a figure (drill-down), a page at a time;
  ``…/orders.csv`` and ``…/orders.xlsx``: all of them, streamed.

Dates are the shop's local days, inclusive. Service manager and admin see
everything; a foreman the workshop's half, as on the /reports page: the
summary's workshop figures, the technicians, and the orders behind the
workshop's figures without money or customer columns (the advisors 403).
The query is read by ``shared.web.report_params`` (one parser for the API
and the page); the half is ``shared.services.reports``'s. Every view
only reads (``shared.services.reports``): no report holds the write lock.
This module documents its own paths and schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from shared.domain import report_figures as rf
from shared.domain.policy import Command
from shared.domain.report_facts import DWELL_STAGES, QUOTE_STATUSES
from shared.services import report_export, report_process, reports
from shared.services.auth import Principal
from shared.web.access import current_principal, require
from shared.web.report_params import (
    ALL,
    computed,
    computed_json,
    order_download,
    report_group,
    report_only,
    report_page,
    report_range,
    workshop_only,
)

blueprint = Blueprint("api_reports", __name__, url_prefix="/api/v1")

MANAGERS = Command.ADMINISTER
# The summary, technicians and orders: the managers, and the foreman (the
# workshop's half, ``report_params.workshop_only``). The advisors: managers.
READERS = Command.DISPATCH
PAGE_SIZE = 200
MAX_PAGE_SIZE = 1000


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # @require let it through
    return principal


@blueprint.get("/reports/summary")
@require(READERS)
def summary() -> ResponseReturnValue:
    start, end = report_range()
    group = report_group()
    principal = _principal()
    workshop = workshop_only(principal)
    return computed_json(
        reports.summary, principal.shop_id, start, end, group, workshop_only=workshop
    )


@blueprint.get("/reports/technicians")
@require(READERS)
def technicians() -> ResponseReturnValue:
    """Labour per technician: the workshop's, a foreman's too."""
    start, end = report_range()
    rows = computed(reports.technicians, _principal().shop_id, start, end)
    return jsonify({"from": start.isoformat(), "to": end.isoformat(), "technicians": rows})


@blueprint.get("/reports/advisors")
@require(MANAGERS)
def advisors() -> ResponseReturnValue:
    start, end = report_range()
    rows = computed(reports.advisors, _principal().shop_id, start, end)
    return jsonify({"from": start.isoformat(), "to": end.isoformat(), "advisors": rows})


def _asked() -> tuple[date, date, str | None, bool]:
    """The orders' range, drill-down and half (checked before any row)."""
    start, end = report_range()
    workshop = workshop_only(_principal())
    return start, end, report_only(workshop_only=workshop), workshop


@blueprint.get("/reports/orders")
@require(READERS)
def orders() -> ResponseReturnValue:
    start, end, only, workshop = _asked()
    limit, offset = report_page(PAGE_SIZE, MAX_PAGE_SIZE)
    rows, more = computed(
        report_process.orders_page,
        _principal().shop_id,
        start,
        end,
        only=only,
        workshop_only=workshop,
        offset=offset,
        limit=limit,
    )
    columns = reports.order_columns(workshop_only=workshop)
    return jsonify(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "only": only,
            "columns": [{"key": key, "label": str(label)} for key, label in columns],
            "orders": rows,
            "next_offset": offset + len(rows) if more else None,
        }
    )


def _download(
    body: Iterator[Any], mimetype: str, suffix: str, start: date, end: date, only: str | None
) -> Response:
    name = f"orders-{start.isoformat()}-{end.isoformat()}"
    name = f"{name}-{only}.{suffix}" if only else f"{name}.{suffix}"
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/reports/orders.csv")
@require(READERS)
def orders_csv() -> ResponseReturnValue:
    start, end, only, workshop = _asked()
    # Opened before the first byte: a wrong range is an error, not a broken file.
    lines = order_download(
        "csv", _principal().shop_id, start, end, only=only, workshop_only=workshop
    )
    return _download(lines, report_export.CSV_MIMETYPE, "csv", start, end, only)


@blueprint.get("/reports/orders.xlsx")
@require(READERS)
def orders_xlsx() -> ResponseReturnValue:
    start, end, only, workshop = _asked()
    blocks = order_download(
        "xlsx", _principal().shop_id, start, end, only=only, workshop_only=workshop
    )
    return _download(blocks, report_export.XLSX_MIMETYPE, "xlsx", start, end, only)


def figure_names() -> dict[str, str]:
    """The figures' names in the reader's language (the page and exports)."""
    return {
        "orders": _("Orders"),
        "on_time_rate": _("On-time rate"),
        "cycle_minutes": _("Check-in to ready"),
        "stage_dwell_minutes": _("Time in each stage"),
        "reception_wait_minutes": _("Wait at reception"),
        "labour": _("Labour efficiency"),
        "bay_utilisation": _("Bay use"),
        "approval_rate": _("Additional work approval"),
        "first_time_fix_rate": _("Fixed first time"),
        "rework_count": _("Rework"),
        "reopened_count": _("Reopened after ready"),
        "comebacks": _("Comebacks"),
        "csat": _("Satisfaction"),
        "quality_customers": _("Quality customers"),
    }


# ------------------------------------------------------------------ OpenAPI


def _dates(oa: Any) -> list[dict[str, Any]]:
    day = {"type": "string", "format": "date"}
    return [
        {
            "name": "from",
            "in": "query",
            "required": True,
            "schema": day,
            "description": "The first day (YYYY-MM-DD, the shop's calendar).",
        },
        {
            "name": "to",
            "in": "query",
            "required": True,
            "schema": day,
            "description": f"The last day, inclusive; not before `from`, at most {rf.MAX_DAYS} "
            "days in all (else 422 validation_error, field to).",
        },
    ]


def _only(oa: Any) -> dict[str, Any]:
    return {
        "name": "only",
        "in": "query",
        "schema": oa.enum_of([ALL, *reports.DRILL_DOWNS]),
        "description": "Only the orders behind one figure (docs/REPORTS.md, drill-down); "
        f"absent or `{ALL}`: every order of the range. A foreman may ask for "
        f"{', '.join(reports.WORKSHOP_DRILL_DOWNS)} (another is 403 forbidden).",
    }


def _halves(what: str) -> str:
    """The roles of an orders' list or export: a foreman's is the workshop's."""
    return (
        f"Roles: admin, manager (every list, every column), foreman (the workshop's {what}: "
        f"the lists behind the workshop's figures, without the columns "
        f"{', '.join(sorted(reports.FRONT_OFFICE_COLUMNS))}; the same as on the /reports "
        "page). "
    )


def openapi_paths() -> dict[str, Any]:
    """This module's part of the OpenAPI document (shared/web/openapi.py merges it)."""
    from shared.web import openapi as oa

    errors_ = (*oa.STAFF_READ_ERRORS, 422)
    managers = "Roles: admin, manager (a foreman gets 403: the front office's). "
    days = (
        "Dates are the shop's local days; each figure belongs to the day docs/REPORTS.md "
        "names (check-in, ready, delivery, cancellation, the quote's or the flag's day). "
    )
    group = {
        "name": "group",
        "in": "query",
        "schema": oa.enum_of(list(reports.GROUPS)),
        "description": "Also give the figures per day, ISO week (Monday first) or calendar "
        "month, the first and last clipped to the range.",
    }
    export = (
        "One row per order checked in, ready, delivered or cancelled in the range (or only "
        "those behind `only`), by order id, streamed: columns as `columns` of "
        "GET /api/v1/reports/orders, headers in the reader's language, times on the shop's "
        "clock, true/false as 1/0. A text cell starting with = + - @, tab or CR is "
        "prefixed with an apostrophe (formula injection)."
    )
    return {
        f"{oa.API}/reports/summary": {
            "get": oa.operation(
                "getReportSummary",
                "The manager's figures for a range of days",
                "admin",
                {200: oa._json_response("The figures.", oa.ref("ReportSummary"))},
                errors=errors_,
                parameters=[*_dates(oa), group],
                description="Roles: admin, manager (every figure), foreman (the workshop's "
                f"half: {', '.join(reports.WORKSHOP_FIGURES)}; the same as on the /reports "
                "page). " + days + "With the previous "
                "period of as many days. Rates are 0..1 or null when there is nothing to "
                "count; `n` is what a rate or mean counts.",
            )
        },
        f"{oa.API}/reports/technicians": {
            "get": oa.operation(
                "getReportTechnicians",
                "Labour per technician: sold and clocked hours, efficiency",
                "admin",
                {200: oa._json_response("Per technician.", oa.ref("ReportTechnicians"))},
                errors=errors_,
                parameters=_dates(oa),
                description="Roles: admin, manager, foreman (labour is the workshop's). "
                + days
                + "The labour of orders ready in the range (a "
                "cancelled order's clocked hours on its cancellation day, sold nothing).",
            )
        },
        f"{oa.API}/reports/advisors": {
            "get": oa.operation(
                "getReportAdvisors",
                "Per service advisor: orders, on-time rate, approval rate, satisfaction",
                "admin",
                {200: oa._json_response("Per advisor.", oa.ref("ReportAdvisors"))},
                errors=errors_,
                parameters=_dates(oa),
                description=managers + days + "The advisor is who opened the order "
                "(order_created.advisor_id; null: an integration's token).",
            )
        },
        f"{oa.API}/reports/orders": {
            "get": oa.operation(
                "listReportOrders",
                "The orders behind the figures (drill-down), a page at a time",
                "admin",
                {200: oa._json_response("A page of rows.", oa.ref("ReportOrders"))},
                errors=errors_,
                parameters=[
                    *_dates(oa),
                    _only(oa),
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": oa.integer(minimum=1, maximum=MAX_PAGE_SIZE),
                        "description": f"Rows per page (default {PAGE_SIZE}).",
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": oa.integer(minimum=0),
                        "description": "Rows to skip: next_offset of the previous page.",
                    },
                ],
                description=_halves("rows") + days + "Rows by order id; `columns` are "
                "the row's members the reader gets.",
            )
        },
        f"{oa.API}/reports/orders.csv": {
            "get": oa.operation(
                "exportReportOrdersCsv",
                "The orders behind the figures as CSV",
                "admin",
                {
                    200: {
                        "description": "UTF-8 with a byte-order mark. " + export,
                        "content": {report_export.CSV_MIMETYPE: {"schema": {"type": "string"}}},
                    }
                },
                errors=errors_,
                parameters=[*_dates(oa), _only(oa)],
                description=_halves("rows") + days,
            )
        },
        f"{oa.API}/reports/orders.xlsx": {
            "get": oa.operation(
                "exportReportOrdersXlsx",
                "The orders behind the figures as an Excel workbook",
                "admin",
                {
                    200: {
                        "description": "One sheet, `orders`; every text written as text, "
                        "never as a formula. " + export,
                        "content": {
                            report_export.XLSX_MIMETYPE: {
                                "schema": {"type": "string", "contentEncoding": "binary"}
                            }
                        },
                    }
                },
                errors=errors_,
                parameters=[*_dates(oa), _only(oa)],
                description=_halves("rows") + days,
            )
        },
    }


def _num(description: str = "", *, nullable: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["number", "null"] if nullable else "number"}
    if description:
        schema["description"] = description
    return schema


def openapi_schemas() -> dict[str, Any]:
    """The component schemas this module's paths refer to."""
    from shared.web import openapi as oa

    rate = _num("0..1; null: nothing to count.", nullable=True)
    count = oa.integer(minimum=0)
    day = {"type": "string", "format": "date"}
    spread = oa.obj(
        {
            "median": _num(nullable=True),
            "p90": _num("Nearest rank.", nullable=True),
            "mean": _num(nullable=True),
            "n": count,
        }
    )
    on_time = oa.obj({"rate": rate, "on_time": count, "n": count})
    figures = oa.obj(
        {
            "orders": oa.obj(
                {
                    "checked_in": count,
                    "ready": count,
                    "delivered": count,
                    "cancelled": count,
                    "carried_over": count,
                }
            ),
            "on_time_rate": oa.obj(
                {"ready": on_time, "delivered": on_time},
                description="Ready, and delivered, by the first promise (承诺交车).",
            ),
            "cycle_minutes": {**spread, "description": "Check-in to (final) ready."},
            "stage_dwell_minutes": oa.obj(
                {
                    stage: oa.obj({"mean": _num(nullable=True), "n": count})
                    for stage in DWELL_STAGES
                },
                description="Minutes per delivered order in each stage (every visit).",
            ),
            "reception_wait_minutes": {**spread, "description": "Check-in to dispatch."},
            "labour": oa.obj(
                {
                    "sold_hours": _num(),
                    "clocked_hours": _num(),
                    "sold_hours_clocked": _num("Sold hours of orders with clocked time."),
                    "efficiency": rate | {"description": "sold_hours_clocked ÷ clocked_hours."},
                }
            ),
            "bay_utilisation": oa.obj(
                {
                    "rate": rate,
                    "occupied_minutes": _num(),
                    "open_minutes": _num(),
                    "bays": oa.array(
                        oa.obj(
                            {
                                "bay": {"type": "string"},
                                "occupied_minutes": _num(),
                                "open_minutes": _num(),
                                "rate": rate,
                            }
                        )
                    ),
                }
            ),
            "approval_rate": oa.obj(
                {
                    "by_count": rate,
                    "by_value": rate,
                    "n": count,
                    "quotes": count,
                    **{status: count for status in QUOTE_STATUSES},
                    **{f"{status}_cents": oa.integer() for status in QUOTE_STATUSES},
                    "declined_sold_later_cents": oa.integer(),
                }
            ),
            "first_time_fix_rate": oa.obj({"rate": rate, "first_time": count, "n": count}),
            "rework_count": count,
            "reopened_count": count,
            "comebacks": oa.obj({"count": count, "rate": rate, "n": count}),
            "csat": oa.obj(
                {
                    "responses": count,
                    "response_rate": rate,
                    "average": _num(nullable=True),
                    "distribution": oa.obj({str(r): count for r in rf.RATINGS}),
                    "low_scores": count,
                    "low_score_follow_up": {
                        "type": "object",
                        "additionalProperties": count,
                        "description": "Low scores by how their follow-up stands: "
                        "complaint_resolved, complaint_open, reached, no_answer, call_back, "
                        "not_called.",
                    },
                    "n": count,
                }
            ),
            "quality_customers": oa.obj({"count": count, "orders": count}),
        },
        required=[],
        description="A period's figures (docs/REPORTS.md); a foreman gets the workshop half.",
    )
    period = oa.obj({"from": day, "to": day, "figures": oa.ref("ReportFigures")})
    column = oa.obj({"key": {"type": "string"}, "label": {"type": "string"}})
    nullable_text = {"type": ["string", "null"]}
    nullable_int = {"type": ["integer", "null"]}
    nullable_bool = {"type": ["boolean", "null"]}
    row = oa.obj(
        {
            "order_id": oa.integer(),
            "number": oa.integer(),
            "plate": {"type": "string"},
            "advisor": {"type": "string"},
            "technicians": {"type": "string"},
            "work": {"type": "string"},
            "stage": {"type": "string"},
            "checked_in_at": nullable_text,
            "promised_at": nullable_text,
            "ready_at": nullable_text,
            "delivered_at": nullable_text,
            "cancelled_at": nullable_text,
            "ready_on_time": nullable_bool,
            "delivered_on_time": nullable_bool,
            "cycle_minutes": _num(nullable=True),
            "reception_wait_minutes": _num(nullable=True),
            "sold_hours": _num(),
            "clocked_hours": _num(),
            "rework_count": count,
            "reopened_count": count,
            "first_time_fix": nullable_bool,
            "quotes": count,
            "approved_cents": oa.integer(),
            "declined_cents": oa.integer(),
            "comeback_of": nullable_int,
            "survey_rating": nullable_int,
        },
        # A foreman's rows leave out the front office's columns.
        required=[
            key for key, _label in reports.ORDER_COLUMNS if key not in reports.FRONT_OFFICE_COLUMNS
        ],
        description="An order's row: a member per column of `columns` (a foreman's rows "
        "without the money and customer columns).",
    )
    return {
        "ReportFigures": figures,
        "ReportSummary": oa.obj(
            {
                "from": day,
                "to": day,
                "group": {"anyOf": [oa.enum_of(list(reports.GROUPS)), {"type": "null"}]},
                "figures": oa.ref("ReportFigures"),
                "periods": oa.array(period),
                "previous": period,
            },
            required=["from", "to", "group", "figures", "previous"],
        ),
        "ReportTechnicians": oa.obj(
            {
                "from": day,
                "to": day,
                "technicians": oa.array(
                    oa.obj(
                        {
                            "technician_id": oa.integer(),
                            "name": {"type": "string"},
                            "clocked_hours": _num(),
                            "sold_hours": _num(),
                            "efficiency": rate,
                        }
                    )
                ),
            }
        ),
        "ReportAdvisors": oa.obj(
            {
                "from": day,
                "to": day,
                "advisors": oa.array(
                    oa.obj(
                        {
                            "advisor_id": nullable_int,
                            "name": {"type": "string"},
                            "orders": count,
                            "delivered": count,
                            "on_time_rate": rate,
                            "on_time_n": count,
                            "approval_rate": rate,
                            "approval_rate_by_value": rate,
                            "quotes_decided": count,
                            "quotes_pending": count,
                            "csat_average": _num(nullable=True),
                            "csat_responses": count,
                        }
                    )
                ),
            }
        ),
        "ReportOrders": oa.obj(
            {
                "from": day,
                "to": day,
                "only": {"anyOf": [oa.enum_of(list(reports.DRILL_DOWNS)), {"type": "null"}]},
                "columns": oa.array(column),
                "orders": oa.array(row),
                "next_offset": {
                    "type": ["integer", "null"],
                    "description": "Pass as offset= for the next page; null: no more.",
                },
            }
        ),
    }
