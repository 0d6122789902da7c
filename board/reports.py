"""Manager reports (/reports, issue 16): today live, any range of the shop's
days with its previous period, charts, technicians and advisors, and the
orders behind a figure, with CSV and XLSX of them.

The page computes nothing: every figure is ``shared.services.reports``'s
(the event log is the truth, docs/REPORTS.md), asked for by the page's
script through this module's JSON routes. They exist beside the REST API
(shared/web/api_reports.py) for the page's own needs (a signed-in
person, a list of at most DRILL_ROWS with the columns that tell its
figure); what a foreman reads is the same on both,
``shared.services.reports``'s workshop half (the figures
``WORKSHOP_FIGURES``, the lists ``WORKSHOP_DRILL_DOWNS``, the columns
``order_columns(workshop_only=True)``), nothing of the front office
(approvals, satisfaction, advisors, comebacks, quality customers); the
advisors' route refuses them (403). The query is read by
``shared.web.report_params``, the REST API's parser.

Who: a signed-in person (session cookie; a bearer token is no person).
Service manager and admin see everything, a foreman the workshop half,
anyone else gets 403, a visitor the sign-in page. The words the script
shows are rendered here into ``#strings``; the figure tiles and charts it
draws are described here (``tiles``, ``charts``) so that a foreman's page
does not even carry the front office's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal, format_percent, ngettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from shared.domain import errors
from shared.domain.policy import Command, may
from shared.services import group, queries, report_export, report_process, reports
from shared.services.auth import Principal
from shared.web import report_params
from shared.web.access import Unauthorized, core, current_principal
from shared.web.labels import stage_labels

blueprint = Blueprint("reports", __name__, template_folder="templates")

PAGE = "/reports"
# The most rows the page lists at once; the downloads carry them all.
DRILL_ROWS = 500


# ------------------------------------------------------------ who


class Viewer:
    """Who looks, and which half of the page they get: ``full`` for a
    service manager or admin, the workshop's half for a foreman."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.full = not report_params.workshop_only(principal)
        self.dispatcher = may(principal, Command.DISPATCH)

    @property
    def shop_id(self) -> int:
        return self.principal.shop_id


def _viewer_or_way_in() -> Viewer | BaseResponse:
    """The page's viewer, or the sign-in page (and back here); 403 for a
    role without reports."""
    principal = current_principal()
    if principal is None or principal.kind != "user":
        return redirect("/login?next=" + quote(request.full_path.rstrip("?")))
    viewer = Viewer(principal)
    if not viewer.dispatcher:
        abort(403)
    return viewer


def _viewer() -> Viewer:
    """The JSON routes' viewer; refusals as problem+json (401, 403)."""
    principal = current_principal()
    if principal is None:
        raise Unauthorized("Sign in, or send a bearer token.")
    if principal.kind != "user":
        raise errors.Forbidden(
            errors.Message("The reports page is for people signed in, not tokens.")
        )
    viewer = Viewer(principal)
    if not viewer.dispatcher:
        raise errors.Forbidden(
            errors.Message("The role %(role)s may not do this.", role=principal.role)
        )
    return viewer


# ------------------------------------------------------------ dates


def shop_today(shop_id: int) -> date:
    """Today on the shop's calendar (its zone, never the server's)."""
    zone = ZoneInfo(queries.shop_timezone(core(), shop_id))
    return core().now().astimezone(zone).date()


def asked_range(today: date) -> tuple[date, date]:
    """from..to of this request (the shop's days, inclusive; today when not
    given), read and checked by ``report_params`` as the REST API's."""
    return report_params.report_range(default=today)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------ words


def groupings() -> dict[str, str]:
    return {"day": _("Day"), "week": _("Week"), "month": _("Month")}


def presets() -> dict[str, str]:
    return {
        "today": _("Today"),
        "yesterday": _("Yesterday"),
        "last7": _("Last 7 days"),
        "this_month": _("This month"),
        "last_month": _("Last month"),
        "last30": _("Last 30 days"),
        "this_year": _("This year"),
    }


def _tile(
    key: str,
    label: str,
    path: str,
    kind: str,
    better: str | None,
    detail: str = "",
    drill: str | None = None,
    drill_label: str = "",
    source: str | None = None,
    today: bool = True,
) -> dict[str, Any]:
    """One figure tile: ``key`` is the summary's figure (absent: no tile),
    ``path`` the number shown, ``source`` the object the detail line's
    {fields} come from (the figure's own unless told), ``better`` which way
    is good (None: neither), ``drill`` the list of orders behind it,
    ``today`` whether today's live strip shows it too."""
    return {
        "key": key,
        "label": label,
        "path": path,
        "format": kind,
        "better": better,
        "detail": detail,
        "source": source or key,
        "drill": drill,
        "drill_label": drill_label,
        "today": today,
    }


def tiles(full: bool) -> list[dict[str, Any]]:
    """The figure tiles, in the order shown. Front-office tiles only for
    ``full``: a foreman's page does not carry their words."""
    spread = _("90%% within %(p90)s · %(count)s cars", p90="{p90}", count="{n}")
    workshop = [
        _tile(
            "orders",
            _("Cars delivered"),
            "orders.delivered",
            "count",
            None,
            _(
                "%(checked_in)s checked in · %(ready)s ready · %(cancelled)s cancelled",
                checked_in="{checked_in}",
                ready="{ready}",
                cancelled="{cancelled}",
            ),
            "all",
            _("Show the orders"),
        ),
        _tile(
            "on_time_rate",
            _("Ready by the promised time"),
            "on_time_rate.ready.rate",
            "rate",
            "up",
            _("%(count)s of %(total)s cars", count="{on_time}", total="{n}"),
            "late",
            _("Show late orders"),
            "on_time_rate.ready",
        ),
        _tile(
            "on_time_rate",
            _("Delivered by the promised time"),
            "on_time_rate.delivered.rate",
            "rate",
            "up",
            _("%(count)s of %(total)s cars", count="{on_time}", total="{n}"),
            "late",
            _("Show late orders"),
            "on_time_rate.delivered",
        ),
        _tile(
            "cycle_minutes",
            _("Check-in → ready (median)"),
            "cycle_minutes.median",
            "minutes",
            "down",
            spread,
        ),
        _tile(
            "reception_wait_minutes",
            _("Reception wait: check-in → dispatched (median)"),
            "reception_wait_minutes.median",
            "minutes",
            "down",
            spread,
        ),
        _tile(
            "labour",
            _("Labour efficiency (sold ÷ clocked)"),
            "labour.efficiency",
            "rate",
            "up",
            _(
                "%(sold)s h sold · %(clocked)s h clocked",
                sold="{sold_hours}",
                clocked="{clocked_hours}",
            ),
        ),
        _tile(
            "bay_utilisation",
            _("Bay utilisation (occupied ÷ open)"),
            "bay_utilisation.rate",
            "rate",
            "up",
            _(
                "%(occupied)s occupied of %(open)s open",
                occupied="{occupied_minutes}",
                open="{open_minutes}",
            ),
            today=False,
        ),
        _tile(
            "first_time_fix_rate",
            _("Fixed first time"),
            "first_time_fix_rate.rate",
            "rate",
            "up",
            _(
                "%(count)s of %(total)s delivered without a failed check",
                count="{first_time}",
                total="{n}",
            ),
            "not_first_time_fix",
            _("Show orders not fixed first time"),
        ),
        _tile(
            "rework_count",
            _("Rework (failed checks)"),
            "rework_count",
            "count",
            "down",
            "",
            "rework",
            _("Show reworked orders"),
            today=False,
        ),
        _tile(
            "reopened_count",
            _("Reopened after ready"),
            "reopened_count",
            "count",
            "down",
            "",
            "reopened",
            _("Show reopened orders"),
            today=False,
        ),
    ]
    if not full:
        return workshop
    front = [
        _tile(
            "approval_rate",
            _("Additional work approved"),
            "approval_rate.by_count",
            "rate",
            "up",
            _(
                "%(count)s of %(total)s quotes decided · by value %(value)s",
                count="{approved}",
                total="{n}",
                value="{by_value}",
            ),
            "declined_quote",
            _("Show declined quotes"),
        ),
        _tile(
            "comebacks",
            _("Comebacks (same fault)"),
            "comebacks.count",
            "count",
            "down",
            _("%(rate)s of %(total)s delivered", rate="{rate}", total="{n}"),
            "comeback",
            _("Show comebacks"),
            today=False,
        ),
        _tile(
            "csat",
            _("Satisfaction (average of 5)"),
            "csat.average",
            "score",
            "up",
            _(
                "%(count)s answers (%(rate)s of delivered) · %(low)s low scores",
                count="{responses}",
                rate="{response_rate}",
                low="{low_scores}",
            ),
            "low_score",
            _("Show low scores"),
        ),
        _tile(
            "quality_customers",
            _("Quality customers (4+ visits in 12 months)"),
            "quality_customers.count",
            "count",
            "up",
            _("%(orders)s of the period's orders were theirs", orders="{orders}"),
            today=False,
        ),
    ]
    return workshop + front + appointment_tiles()


def appointment_tiles() -> list[dict[str, Any]]:
    """The appointments of the period (预约, by each appointment's own day):
    the summary's ``appointments`` object. Front office (the desk books and
    receives them), so only on the service manager's page."""
    counts = _(
        "%(checked_in)s checked in · %(no_shows)s no-shows",
        checked_in="{checked_in}",
        no_shows="{no_shows}",
    )
    return [
        _tile(
            "appointments", _("Appointments booked"), "appointments.booked", "count", None, counts
        ),
        _tile(
            "appointments", _("Appointments checked in"), "appointments.checked_in", "count", "up"
        ),
        _tile("appointments", _("No-shows"), "appointments.no_shows", "count", "down"),
        _tile(
            "appointments",
            _("Show rate (checked in of checked in and no-shows)"),
            "appointments.show_rate",
            "rate",
            "up",
            counts,
        ),
    ]


# ------------------------------------------------------------ figures in words (server side)


def figure_at(figures: Mapping[str, Any], path: str) -> Any:
    """The value at a tile's dotted ``path`` in a summary's figures (None
    when absent), as reports.js's ``at``."""
    found: Any = figures
    for part in path.split("."):
        found = found.get(part) if isinstance(found, Mapping) else None
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def minutes_text(value: float) -> str:
    whole = round(value)
    if whole < 60:
        return str(_("%(minutes)s min", minutes=whole))
    return str(_("%(hours)s h %(minutes)s min", hours=whole // 60, minutes=f"{whole % 60:02d}"))


def shown(kind: str, value: Any) -> str:
    """A figure as a page shows it, in the request's language: a rate as a
    percentage to a tenth, minutes as "1 h 05 min", a score to a tenth."""
    if not _number(value):
        return "—"
    if kind == "rate":
        return str(format_percent(value, "#,##0.#%"))
    if kind == "minutes":
        return minutes_text(value)
    if kind == "score":
        return str(format_decimal(value, "0.0"))
    return str(format_decimal(value, "#,##0.##"))


def compared(spec: Mapping[str, Any], now: Any, before: Any) -> tuple[str, str] | None:
    """A figure against the previous period, in words, and its verdict
    (better, worse, same, plain, none); None without a figure now. The
    same sentences as reports.js's ``delta``."""
    if not _number(now):
        return None
    if not _number(before):
        return str(_("nothing to compare in the previous period")), "none"
    kind = str(spec["format"])
    change = float(now) - float(before)
    previous = shown(kind, before)
    epsilon = 0.0005 if kind == "rate" else 0.05 if kind == "score" else 0.5
    if abs(change) < epsilon:
        return str(_("= unchanged (previous %(previous)s)", previous=previous)), "same"
    size = abs(change)
    if kind == "rate":
        amount = str(_("%(points)s pts", points=format_decimal(size * 100, "#,##0.#")))
    elif kind == "minutes":
        amount = minutes_text(size)
    else:
        amount = shown(kind, size)
    arrow = "▲" if change > 0 else "▼"
    signed = ("+" if change > 0 else "−") + amount
    if not spec.get("better"):
        plain = _(
            "%(arrow)s %(change)s (previous %(previous)s)",
            arrow=arrow,
            change=signed,
            previous=previous,
        )
        return str(plain), "plain"
    good = (change > 0) == (spec["better"] == "up")
    said = _(
        "%(arrow)s %(change)s, %(verdict)s (previous %(previous)s)",
        arrow=arrow,
        change=signed,
        verdict=_("better") if good else _("worse"),
        previous=previous,
    )
    return str(said), "better" if good else "worse"


def charts(full: bool) -> list[dict[str, Any]]:
    """The charts, in the order shown (their ids are reports.js's)."""
    found: list[dict[str, Any]] = [
        {"id": "on-time", "title": _("Ready by the promised time, per period")},
        {
            "id": "cycle",
            "title": _("Check-in → ready, per period"),
            "hint": _("Median and 90th percentile, in minutes."),
        },
        {"id": "dwell", "title": _("Average time in each stage"), "tall": True},
        {"id": "efficiency", "title": _("Labour efficiency per technician"), "tall": True},
        {"id": "bays", "title": _("Bay utilisation per bay"), "tall": True},
    ]
    if full:
        found.append({"id": "csat", "title": _("Satisfaction: answers per score")})
    return found


def strings(full: bool) -> dict[str, Any]:
    """Every word the page's script shows."""
    words: dict[str, Any] = {
        "stale": _("Not updated since %(time)s", time="{time}"),
        "connection_lost": _("No connection since %(time)s — reconnecting…", time="{time}"),
        "updated": _("Updated %(time)s", time="{time}"),
        "loading": _("Loading…"),
        "failed": _("The figures could not be loaded: %(detail)s", detail="{detail}"),
        "bad_range": _("Choose a first and a last day, the last not before the first."),
        "no_data": _("Nothing to count in this period."),
        "nothing_yet": _("nothing to count yet"),
        "none": "—",
        "yes": _("Yes"),
        "no": _("No"),
        # TRANSLATORS: a range of days, e.g. "Nov 1, 2026 – Nov 28, 2026".
        "range": _("%(first)s – %(last)s", first="{from}", last="{to}"),
        "day_compared": _(
            "%(day)s, compared with %(prev_day)s", day="{day}", prev_day="{prev_day}"
        ),
        "range_compared": _(
            "%(first)s – %(last)s, compared with %(prev_first)s – %(prev_last)s",
            first="{from}",
            last="{to}",
            prev_first="{prev_from}",
            prev_last="{prev_to}",
        ),
        "minutes": _("%(minutes)s min", minutes="{minutes}"),
        "hours_minutes": _("%(hours)s h %(minutes)s min", hours="{hours}", minutes="{minutes}"),
        # TRANSLATORS: a change of a percentage, in percentage points ("5 pts").
        "percent_points": _("%(points)s pts", points="{points}"),
        # TRANSLATORS: a figure against the previous period: arrow, change and
        # whether that is good, e.g. "▲ +5 pts, better (previous 80%)".
        "delta": _(
            "%(arrow)s %(change)s, %(verdict)s (previous %(previous)s)",
            arrow="{arrow}",
            change="{change}",
            verdict="{verdict}",
            previous="{previous}",
        ),
        # TRANSLATORS: a count against the previous period, neither good nor bad.
        "delta_plain": _(
            "%(arrow)s %(change)s (previous %(previous)s)",
            arrow="{arrow}",
            change="{change}",
            previous="{previous}",
        ),
        "better": _("better"),
        "worse": _("worse"),
        "same": _("= unchanged (previous %(previous)s)", previous="{previous}"),
        "no_previous": _("nothing to compare in the previous period"),
        "drill_title": _("%(figure)s: the orders behind it", figure="{figure}"),
        "drill_all": _("All orders of the period"),
        # The count's two forms: the script takes the first for one order.
        "drill_count": [
            ngettext("%(count)s order", "%(count)s orders", 1, count="{count}"),
            ngettext("%(count)s order", "%(count)s orders", 2, count="{count}"),
        ],
        "drill_more": _(
            "The first %(shown)s of %(count)s orders are listed; the downloads have them all.",
            shown="{shown}",
            count="{count}",
        ),
        # TRANSLATORS: a day on a chart's axis: 11/28, 11月28日.
        "period_day": _("%(month)s/%(day)s", month="{month}", day="{day}"),
        # TRANSLATORS: a week on a chart's axis, named by its first day (a Monday).
        "period_week": _("week of %(month)s/%(day)s", month="{month}", day="{day}"),
        "period_month": _("%(year)s-%(month)s", year="{year}", month="{month}"),
        "series": {
            "on_time": _("Ready on time"),
            "median": _("Median"),
            "p90": _("90th percentile"),
            "efficiency": _("Efficiency"),
            "utilisation": _("Utilisation"),
            "answers": _("Answers"),
            "dwell": _("Average minutes"),
        },
        "stars": _("%(score)s of 5", score="{score}"),
        # Lists of [key, label]: JSON objects lose their order on the way.
        "technician_columns": [
            ["name", _("Technician")],
            ["sold_hours", _("Hours sold")],
            ["clocked_hours", _("Hours clocked")],
            ["efficiency", _("Efficiency")],
        ],
        "team": _("Team"),
        "no_advisor": _("(no advisor)"),
        "stages": stage_labels(),
        "tiles": tiles(full),
    }
    if full:
        words["advisor_columns"] = [
            ["name", _("Service advisor")],
            ["orders", _("Orders checked in")],
            ["delivered", _("Delivered")],
            ["on_time_rate", _("Ready on time")],
            ["approval_rate", _("Additional work approved")],
            ["approval_rate_by_value", _("Approved by value")],
            ["csat_average", _("Satisfaction (average of 5)")],
            ["csat_responses", _("Answers")],
        ]
    return words


# ------------------------------------------------------------ the page


@blueprint.get(PAGE)
def page() -> ResponseReturnValue:
    viewer = _viewer_or_way_in()
    if isinstance(viewer, BaseResponse):
        return viewer
    today = shop_today(viewer.shop_id)
    # The range asked for (a bookmark, the form without script), else this month so far.
    start, end, grouping = today.replace(day=1), today, "day"
    if request.args.get("from") or request.args.get("to"):
        try:
            start, end = asked_range(today)
            grouping = report_params.report_group() or "day"
        except errors.ValidationFailed:
            pass
    principal = viewer.principal
    page_html = render_template(
        "reports.html",
        principal=principal,
        full=viewer.full,
        dispatcher=viewer.dispatcher,
        group_member=group.is_member(principal),
        start=start.isoformat(),
        end=end.isoformat(),
        grouping=grouping,
        groupings=groupings(),
        presets=presets(),
        charts=charts(viewer.full),
        strings=strings(viewer.full),
        setup={"today": today.isoformat(), "full": viewer.full, "base": PAGE},
        shop_timezone=queries.shop_timezone(core(), viewer.shop_id),
    )
    return _no_store(Response(page_html))


# ------------------------------------------------------------ JSON for the page


@blueprint.get(f"{PAGE}/api/summary")
def summary() -> ResponseReturnValue:
    """The summary of a range, its periods and its previous period; the
    workshop's figures only for a foreman (the rest is never sent)."""
    viewer = _viewer()
    start, end = asked_range(shop_today(viewer.shop_id))
    group = report_params.report_group()
    return report_params.computed_json(
        reports.summary, viewer.shop_id, start, end, group, workshop_only=not viewer.full
    )


@blueprint.get(f"{PAGE}/api/technicians")
def technicians() -> ResponseReturnValue:
    viewer = _viewer()
    start, end = asked_range(shop_today(viewer.shop_id))
    rows = report_params.computed(reports.technicians, viewer.shop_id, start, end)
    return _no_store(jsonify({"technicians": rows}))


@blueprint.get(f"{PAGE}/api/advisors")
def advisors() -> ResponseReturnValue:
    """The advisors' figures: the front office's, refused to a foreman."""
    viewer = _viewer()
    if not viewer.full:
        raise errors.Forbidden(errors.Message("The advisors' figures are the service manager's."))
    start, end = asked_range(shop_today(viewer.shop_id))
    rows = report_params.computed(reports.advisors, viewer.shop_id, start, end)
    return _no_store(jsonify({"advisors": rows}))


# The orders' table on the page: these columns, and the ones that tell the
# figure in question (the downloads carry every column).
DRILL_BASE = (
    "number",
    "plate",
    "work",
    "technicians",
    "stage",
    "checked_in_at",
    "promised_at",
    "ready_at",
    "delivered_at",
)
DRILL_EXTRA: dict[str, tuple[str, ...]] = {
    "all": ("cycle_minutes", "rework_count", "survey_rating"),
    "late": ("ready_on_time", "delivered_on_time", "cycle_minutes"),
    "rework": ("rework_count",),
    "not_first_time_fix": ("rework_count", "first_time_fix"),
    "reopened": ("reopened_count",),
    "comeback": ("comeback_of", "advisor"),
    "low_score": ("survey_rating", "advisor"),
    "declined_quote": ("quotes", "declined_cents", "advisor"),
    "cancelled": ("cancelled_at",),
    "carried_over": ("cycle_minutes",),
}


def _asked(viewer: Viewer) -> tuple[date, date, str | None, bool]:
    """The orders asked for, as the REST API reads them: the range, the
    list, and whether the reader gets the workshop's half (a foreman:
    ``reports``'s lists and columns)."""
    start, end = asked_range(shop_today(viewer.shop_id))
    workshop = not viewer.full
    return start, end, report_params.report_only(workshop_only=workshop), workshop


@blueprint.get(f"{PAGE}/api/orders")
def orders() -> ResponseReturnValue:
    """The orders behind a figure (``only``), or all of the range: the
    first DRILL_ROWS of them and how many there are."""
    viewer = _viewer()
    start, end, only, workshop = _asked(viewer)
    wanted = {*DRILL_BASE, *DRILL_EXTRA.get(only or "all", ())}
    every = reports.order_columns(workshop_only=workshop)
    columns = [(key, label) for key, label in every if key in wanted]
    listed, count = report_params.computed(
        report_process.orders_listing,
        viewer.shop_id,
        start,
        end,
        only=only,
        workshop_only=workshop,
        keys=[key for key, _label in columns],
        limit=DRILL_ROWS,
    )
    shown = [{"key": key, "label": str(label)} for key, label in columns]
    return _no_store(jsonify({"columns": shown, "rows": listed, "count": count}))


def _attachment(
    response: Response, start: date, end: date, only: str | None, suffix: str
) -> Response:
    name = f"orders-{start.isoformat()}-{end.isoformat()}"
    if only:
        name += f"-{only}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{suffix}"'
    return _no_store(response)


@blueprint.get(f"{PAGE}/orders.csv")
def orders_csv() -> ResponseReturnValue:
    viewer = _viewer()
    start, end, only, workshop = _asked(viewer)
    body = report_params.order_download(
        "csv", viewer.shop_id, start, end, only=only, workshop_only=workshop
    )
    response = Response(body, content_type=f"{report_export.CSV_MIMETYPE}; charset=utf-8")
    return _attachment(response, start, end, only, "csv")


@blueprint.get(f"{PAGE}/orders.xlsx")
def orders_xlsx() -> ResponseReturnValue:
    viewer = _viewer()
    start, end, only, workshop = _asked(viewer)
    body = report_params.order_download(
        "xlsx", viewer.shop_id, start, end, only=only, workshop_only=workshop
    )
    response = Response(body, mimetype=report_export.XLSX_MIMETYPE)
    return _attachment(response, start, end, only, "xlsx")
