"""The dealer group's pages (issue 14, item 5): every shop's live counts on
one page for a group manager, each shop's board read-only, and shops with
their first admin made by a group admin (docs/admin/group.md).

- ``GET /group``: every shop with its counts (active, late, at risk,
  ready); the page asks ``GET /group/api/counts`` every 15 s and writes the
  numbers in (static/js/group.js), so it stays live without a reload. For a
  group admin: a new shop's form, an "add an admin" link per shop, and the
  group's members.
- ``GET /group/shops/<slug>/board``: that shop's board, drawn here on the
  server and reloaded by the page every 15 s. The server decides the shop
  from the slug after checking the person; nothing opens a socket or names
  a room, and the person's own shop stays the one everything else acts in.
- ``GET|POST /group/shops/<slug>/admin``: a shop's admin (name and a
  password the group admin passes on; its owner chooses their own at the
  first sign-in at /login?shop=SLUG).
- ``GET /group/reports``: every shop's report figures for a range of days
  side by side (issue 16, item 5): the manager's reports page's figures
  (board/reports.py), each shop's ``reports.summary`` asked for here.
- ``POST /group/shops``, ``POST /group/members/<id>`` (grant) and
  ``POST /group/members/<id>/revoke``.

Signed-in people only (a bearer token is no person); someone without
``group`` gets 403, a visitor the sign-in page. Every form carries the CSRF
token and an Idempotency-Key; each action calls one service function
(shared/services/group.py)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import Length, Optional

from board import reports as report_page
from shared.domain import bays, errors
from shared.domain.stages import Stage
from shared.services import group, queries, reports, shop_settings, shops, staff_admin
from shared.services.auth import Principal
from shared.services.commands import fingerprint
from shared.web import problem_text, report_params
from shared.web.access import Unauthorized, core, current_principal
from shared.web.form_text import StoredText
from shared.web.labels import pause_labels, stage_labels

blueprint = Blueprint("group", __name__, template_folder="templates")

PAGE = "/group"
# How often the group page asks for the counts, and the board view reloads.
REFRESH_SECONDS = 15
KEY_LENGTH = 64


# ------------------------------------------------------------ forms


def _text(limit: int) -> list[Any]:
    return [Optional(), Length(max=limit), StoredText()]


class _KeyedForm(FlaskForm):
    """Every form: its own Idempotency-Key (new at each rendering)."""

    request_key = HiddenField("request_key", validators=[Optional(), Length(max=KEY_LENGTH)])


class ShopForm(_KeyedForm):
    name = StringField("name", validators=_text(shop_settings.NAME_MAX))
    slug = StringField("slug", validators=_text(shops.SLUG_MAX))
    timezone = StringField("timezone", validators=_text(64))


class AdminForm(_KeyedForm):
    name = StringField("name", validators=_text(staff_admin.NAME_MAX))
    password = PasswordField("password", validators=_text(200))


class ActionForm(_KeyedForm):
    """Grant or take back: the key and the CSRF token are all."""


# ------------------------------------------------------------ words


def role_labels() -> dict[str, str]:
    return {"admin": _("Administrator"), "manager": _("Service manager")}


def field_labels(form: str = "shop") -> dict[str, str]:
    """The fields' names as the form in question shows them: ``name`` is a
    shop's on the new shop's form, a person's on the admin form."""
    return {
        "name": _("Shop name") if form == "shop" else _("Name (to sign in)"),
        "slug": _("Slug"),
        "timezone": _("Time zone"),
        "password": _("Password"),
        "role": _("Role"),
        "group": _("Group member"),
    }


def refusal_message(refused: errors.DomainError, form: str = "shop") -> str:
    """A refusal of the services in the reader's language."""
    if isinstance(refused, errors.Forbidden):
        return str(_("Only a group admin may do that."))
    if isinstance(refused, errors.NotFound):
        return str(_("That shop or person no longer exists."))
    if not isinstance(refused, errors.ValidationFailed):
        # Why, as the service said it, in the reader's language.
        return problem_text.error_text(refused)[1]
    field = refused.field
    label = field_labels(form).get(field, field)
    reason = refused.extra.get("reason")
    if field == "timezone":
        return str(_("Unknown time zone: give an IANA name such as Asia/Shanghai."))
    if field == "slug" and reason == "taken":
        return str(_("Another shop has this slug already."))
    if field == "slug" and reason in ("slug_format", "too_long"):
        return str(
            _("A slug has lowercase letters a-z, digits and hyphens between them, e.g. south-2.")
        )
    if field == "name" and reason == "taken":
        return str(_("Someone in this shop already has this name."))
    if field == "password":
        return str(_("A password has %(low)s to %(high)s characters.", low=8, high=200))
    if reason == "own_account":
        return str(_("You cannot take back your own group membership."))
    if reason == "group_role":
        return str(_("Only an active administrator or service manager joins the group."))
    if reason == "required" or field == "name":
        return str(_("Fill in: %(field)s.", field=label))
    return str(_("Check this field: %(field)s.", field=label))


# ------------------------------------------------------------ helpers


def _member() -> Principal | BaseResponse:
    """The signed-in group member, or the way to sign in; 403 for anyone else."""
    principal = current_principal()
    if principal is None or principal.kind != "user":
        return redirect("/login?next=" + quote(request.path))
    if not group.is_member(principal):
        abort(403)
    return principal


def _admin() -> Principal | BaseResponse:
    principal = _member()
    if isinstance(principal, Principal) and not group.is_admin(principal):
        abort(403)
    return principal


def _key(form: _KeyedForm) -> str | None:
    raw = form.request_key.data or ""
    return raw if raw and raw.isascii() and raw.isprintable() and " " not in raw else None


def _keyed(form: _KeyedForm) -> _KeyedForm:
    form.request_key.data = secrets.token_urlsafe(24)
    return form


def _first_form_error(form: FlaskForm) -> str:
    for field in form:
        if field.errors:
            if field.name == "csrf_token":
                return str(_("The page was too old. Try again."))
            label = field_labels(_form_name(form)).get(field.name, field.name)
            return str(_("Check this field: %(field)s.", field=label))
    return str(_("Try again."))


def _form_name(form: FlaskForm) -> str:
    return "person" if isinstance(form, AdminForm) else "shop"


def _no_store(page: str, status: int = 200) -> Response:
    response = Response(page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _strings() -> dict[str, str]:
    """What the page's script says (it hard-codes no word)."""
    return {
        "stale": _("Not updated since %(time)s", time="{time}"),
        "updated": _("Updated %(time)s", time="{time}"),
    }


def _overview(
    principal: Principal,
    status: int = 200,
    error: str = "",
    shop_form: ShopForm | None = None,
) -> Response:
    counts = group.shop_counts(core(), principal)
    admin = group.is_admin(principal)
    people = group.people(core(), principal) if admin else []
    if shop_form is None:
        shop_form = ShopForm(formdata=None, timezone=shops.DEFAULT_TIMEZONE)
    notices = get_flashed_messages()
    page = render_template(
        "kiosk/group.html",
        principal=principal,
        counts=counts,
        admin=admin,
        people=people,
        shop_form=_keyed(shop_form),
        actions={person.id: _keyed(ActionForm(formdata=None)) for person in people},
        time_zones=sorted(shop_settings.time_zones()),
        roles=role_labels(),
        strings=_strings(),
        refresh_ms=REFRESH_SECONDS * 1000,
        # "Updated HH:MM:SS" on the viewer's own shop's clock, never the device's.
        shop_timezone=queries.shop_timezone(core(), principal.shop_id),
        error=error,
        notice=notices[-1] if notices else "",
    )
    return _no_store(page, status)


def _done(message: str, target: str) -> BaseResponse:
    """After a change, the page again by GET (a reload repeats nothing)."""
    flash(message)
    return redirect(target, code=303)


# ------------------------------------------------------------ every shop


@blueprint.get(PAGE)
def overview() -> ResponseReturnValue:
    principal = _member()
    if isinstance(principal, BaseResponse):
        return principal
    return _overview(principal)


@blueprint.get(f"{PAGE}/api/counts")
def counts() -> ResponseReturnValue:
    """Every shop's counts now, for the group page's script. A person whose
    membership ended meanwhile is refused (the script then reloads, and the
    page says why)."""
    principal = current_principal()
    if principal is None:
        raise Unauthorized("Sign in as a group manager at /login.")
    if principal.kind != "user":
        raise errors.Forbidden("The group's pages are for people signed in, not tokens.")
    found = group.shop_counts(core(), principal)
    response = jsonify(
        {"shops": [shop.as_json() for shop in found], "at": core().now().isoformat()}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------ one shop's board


def _minutes_since(moment: datetime | None, now: datetime) -> int | None:
    if moment is None:
        return None
    return max(0, int((now - moment).total_seconds() // 60))


def _standing(
    orders: list[dict[str, Any]], shop_bays: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Who stands on which bay, by the rule the dispatch and the wall board
    use (``bays.standing``): a car being washed on the wash bay, a ready car
    on none."""
    cars = [
        bays.Standing(
            bays.Holder(o["id"], o["number"], o["plate"]),
            Stage(o["stage"]),
            o["bay"],
            o["stage_entered_at"],
        )
        for o in orders
    ]
    places = [bays.Place(b["code"], b["kind"], b["capacity"], b["in_service"]) for b in shop_bays]
    by_id = {o["id"]: o for o in orders}
    return {
        code: [by_id[h.order_id] for h in held]
        for code, held in bays.standing(cars, places).items()
    }


@blueprint.get(f"{PAGE}/shops/<slug>/board")
def board(slug: str) -> ResponseReturnValue:
    """Another shop's board, read-only, drawn on the server."""
    principal = _member()
    if isinstance(principal, BaseResponse):
        return principal
    try:
        shop_board = group.shop_board(core(), principal, slug)
    except errors.NotFound:
        abort(404)
    for order in shop_board.orders:
        order["in_stage_minutes"] = _minutes_since(order["stage_entered_at"], shop_board.read_at)
    holders = _standing(shop_board.orders, shop_board.bays)
    page = render_template(
        "kiosk/group_board.html",
        principal=principal,
        board=shop_board,
        shop_timezone=shop_board.shop["timezone"],
        stages=stage_labels(shop_board.stage_labels),
        pauses=pause_labels(),
        holders=holders,
        refresh_seconds=REFRESH_SECONDS,
    )
    return _no_store(page)


# ------------------------------------------------------------ reports side by side


def _side_by_side(
    summaries: list[tuple[group.ShopCounts, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One row per figure (the manager's reports page's tiles, the same
    words), one cell per shop: the value and its change against the shop's
    previous period, said in words (``board.reports.compared``)."""
    rows = []
    for spec in report_page.tiles(True):
        cells = []
        for _shop, found in summaries:
            now = report_page.figure_at(found["figures"], spec["path"])
            before = report_page.figure_at(found["previous"]["figures"], spec["path"])
            change = report_page.compared(spec, now, before)
            cells.append(
                {
                    "value": report_page.shown(spec["format"], now),
                    "change": change[0] if change else "",
                    "verdict": change[1] if change else "",
                }
            )
        rows.append({"label": spec["label"], "path": spec["path"], "cells": cells})
    return rows


@blueprint.get(f"{PAGE}/reports")
def reports_side_by_side() -> ResponseReturnValue:
    """Every shop's figures for a range of days, side by side, each shop
    counted on its own calendar (``reports.summary`` per shop, on the
    server). The range defaults to this month so far on the viewer's own
    shop's calendar."""
    principal = _member()
    if isinstance(principal, BaseResponse):
        return principal
    today = report_page.shop_today(principal.shop_id)
    start, end = today.replace(day=1), today
    error, status = "", 200
    if request.args.get("from") or request.args.get("to"):
        try:
            start, end = report_page.asked_range(today)
        except errors.ValidationFailed as refused:
            error, status = problem_text.error_text(refused)[1], 422
    shops = group.shop_counts(core(), principal)
    # In the report worker, one at a time, as every report surface asks.
    summaries = [
        (shop, report_params.computed(reports.summary, shop.id, start, end)) for shop in shops
    ]
    before_start, before_end = start, end
    if summaries:
        before_start = date.fromisoformat(summaries[0][1]["previous"]["from"])
        before_end = date.fromisoformat(summaries[0][1]["previous"]["to"])
    page = render_template(
        "kiosk/group_reports.html",
        principal=principal,
        shops=[shop for shop, _found in summaries],
        rows=_side_by_side(summaries),
        start=start,
        end=end,
        before_start=before_start,
        before_end=before_end,
        shop_timezone=queries.shop_timezone(core(), principal.shop_id),
        error=error,
    )
    return _no_store(page, status)


# ------------------------------------------------------------ making shops


@blueprint.post(f"{PAGE}/shops")
def create_shop() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = ShopForm()
    if not form.validate_on_submit():
        return _overview(principal, 422, _first_form_error(form), form)
    new = shops.NewShop(
        slug=(form.slug.data or "").strip(),
        name=form.name.data or "",
        timezone=form.timezone.data or "",
    )
    try:
        created = group.create_shop(core(), principal, new, idempotency_key=_key(form))
    except errors.DomainError as refused:
        return _overview(principal, refused.status, refusal_message(refused), form)
    return _done(
        _("Shop %(name)s created. Now add its first administrator.", name=created.name),
        url_for("group.shop_admin", slug=created.slug),
    )


def _admin_page(
    principal: Principal,
    slug: str,
    status: int = 200,
    error: str = "",
    form: AdminForm | None = None,
) -> Response:
    try:
        shop = shops.shop_by_slug(core(), slug)
    except errors.NotFound:
        abort(404)
    notices = get_flashed_messages()
    page = render_template(
        "kiosk/group_admin.html",
        principal=principal,
        shop=shop,
        form=_keyed(form or AdminForm(formdata=None)),
        sign_in_link=shops.sign_in_link(core(), shop.slug),
        error=error,
        notice=notices[-1] if notices else "",
    )
    return _no_store(page, status)


@blueprint.get(f"{PAGE}/shops/<slug>/admin")
def shop_admin(slug: str) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    return _admin_page(principal, slug)


@blueprint.post(f"{PAGE}/shops/<slug>/admin")
def add_shop_admin(slug: str) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = AdminForm()
    if not form.validate_on_submit():
        return _admin_page(principal, slug, 422, _first_form_error(form), form)
    key = _key(form)
    # The stored fingerprint never holds the password itself: an HMAC of it
    # under the app's key, as the staff page and REST keep theirs.
    secret = core().settings.secret_key.encode()
    password_mark = hmac.new(secret, (form.password.data or "").encode(), hashlib.sha256)
    print_ = fingerprint(
        "POST", request.path, {"name": form.name.data, "password": password_mark.hexdigest()}
    )
    try:
        outcome = group.create_shop_admin(
            core(),
            principal,
            slug,
            name=form.name.data or "",
            password=form.password.data or "",
            idempotency_key=key,
            fingerprint=print_ if key else None,
        )
    except errors.NotFound:
        abort(404)
    except errors.DomainError as refused:
        message = refusal_message(refused, "person")
        return _admin_page(principal, slug, refused.status, message, form)
    link = shops.sign_in_link(core(), slug)
    message = _(
        "Administrator %(name)s added. They sign in at %(link)s and choose their own password.",
        name=str(outcome.body.get("name", "")),
        link=link,
    )
    return _done(str(message), PAGE)


# ------------------------------------------------------------ members


def _membership(user_id: int, member: bool) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = ActionForm()
    if not form.validate_on_submit():
        return _overview(principal, 422, _first_form_error(form))
    key = _key(form)
    try:
        outcome = group.set_membership(
            core(),
            principal,
            user_id,
            member=member,
            idempotency_key=key,
            fingerprint=fingerprint("POST", request.path, {}) if key else None,
        )
    except errors.NotFound:
        abort(404)
    except errors.DomainError as refused:
        return _overview(principal, refused.status, refusal_message(refused))
    name = str(outcome.body.get("name", ""))
    if member:
        return _done(_("%(name)s is now a group member.", name=name), PAGE)
    return _done(_("%(name)s is no longer a group member.", name=name), PAGE)


@blueprint.post(f"{PAGE}/members/<int:user_id>")
def grant(user_id: int) -> ResponseReturnValue:
    return _membership(user_id, True)


@blueprint.post(f"{PAGE}/members/<int:user_id>/revoke")
def revoke(user_id: int) -> ResponseReturnValue:
    return _membership(user_id, False)
