"""The first run without a terminal (issue 14, item 1): the one-time set-up
page that creates the shop and its first admin.

``baylight serve`` prints ``http://<address on the shop's LAN>/setup/<token>``
while no shop has an admin (``shared.services.first_run``). Whoever opens it
within the hour fills in the shop profile (name, address, service hotline,
time zone, opening hours with a lunch break) and their own account (name,
the name customers see, a password typed twice); one service call writes
both, and they land on /admin signed in.

A link that does not work gets a page that says so in the reader's language
and nothing more: 404 for a link this server never made, 410 for one whose
hour is over or whose installation is set up already. The page is no-store
and sends no referrer (base.html), so the token stays in the address bar.
The form carries the CSRF token and an Idempotency-Key (a double click sets
up once and answers the second with the way to sign in)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import Length, Optional

from shared.config import LOCALES
from shared.domain import errors
from shared.services import first_run, shop_settings, staff_admin, staff_login
from shared.web import problem_text
from shared.web.access import core
from shared.web.form_text import StoredText
from shared.web.staff_session import SessionUser

blueprint = Blueprint("first_run", __name__, template_folder="templates")

KEY_LENGTH = 64
LANGUAGE_NAMES = {"zh_Hans": "简体中文", "zh_Hant": "繁體中文", "en": "English"}
# What the form shows before anyone typed: a working day with a lunch hour.
DEFAULT_HOURS = {"opens": "08:30", "closes": "18:00", "lunch_from": "12:00", "lunch_to": "13:00"}


def _text(limit: int) -> list[Any]:
    return [Optional(), Length(max=limit), StoredText()]


class SetUpForm(FlaskForm):
    """The set-up form; every rule beyond length is the service's."""

    request_key = HiddenField("request_key", validators=[Optional(), Length(max=KEY_LENGTH)])
    shop_name = StringField("shop_name", validators=_text(shop_settings.NAME_MAX))
    address = StringField("address", validators=_text(shop_settings.ADDRESS_MAX))
    hotline = StringField("hotline", validators=_text(shop_settings.HOTLINE_MAX))
    timezone = StringField("timezone", validators=_text(64))
    opens = StringField("opens", validators=_text(5))
    closes = StringField("closes", validators=_text(5))
    lunch_from = StringField("lunch_from", validators=_text(5))
    lunch_to = StringField("lunch_to", validators=_text(5))
    admin_name = StringField("admin_name", validators=_text(staff_admin.NAME_MAX))
    display_name = StringField("display_name", validators=_text(staff_admin.DISPLAY_NAME_MAX))
    password = PasswordField("password", validators=_text(staff_login.PASSWORD_MAX))
    password_repeat = PasswordField("password_repeat", validators=_text(staff_login.PASSWORD_MAX))


# ------------------------------------------------------------ words


def field_labels() -> dict[str, str]:
    """Each form field by its name on the page."""
    return {
        "shop_name": _("Shop name"),
        "address": _("Address"),
        "hotline": _("Service hotline"),
        "timezone": _("Time zone"),
        "opens": _("Opens"),
        "closes": _("Closes"),
        "lunch_from": _("Lunch break from"),
        "lunch_to": _("Lunch break to"),
        "admin_name": _("Your name (to sign in)"),
        "display_name": _("Name shown to customers"),
        "password": _("Password"),
        "password_repeat": _("Password again"),
    }


def form_field(field: str) -> str:
    """The form field a service refusal names (``shop.name``,
    ``opening_hours.breaks[0].end``...)."""
    direct = {
        "shop.name": "shop_name",
        "name": "shop_name",
        "address": "address",
        "hotline": "hotline",
        "timezone": "timezone",
        "opening_hours.open": "opens",
        "opening_hours.close": "closes",
        "admin.name": "admin_name",
        "display_name": "display_name",
        "password": "password",
        "password_repeat": "password_repeat",
    }
    if field in direct:
        return direct[field]
    if field.startswith("opening_hours.breaks"):
        return "lunch_to" if field.endswith(".end") else "lunch_from"
    return "opens"


def refusal_message(refused: errors.DomainError) -> tuple[str, str]:
    """(form field, sentence in the reader's language) for a refusal of the
    input (a ``validation_error``, or its replay for a form sent again)."""
    name = form_field(str(refused.extra.get("field", "")))
    label = field_labels()[name]
    reason = refused.extra.get("reason")
    if name == "timezone":
        text = _("Unknown time zone: give an IANA name such as Asia/Shanghai.")
    elif reason == "required":
        text = _("Fill in: %(field)s.", field=label)
    elif reason == "too_long":
        text = _("Too long: %(field)s.", field=label)
    elif reason == "taken":
        text = _("Someone in this shop already has this name.")
    elif reason == "password_length":
        text = _(
            "A password has %(low)s to %(high)s characters.",
            low=staff_login.PASSWORD_MIN,
            high=staff_login.PASSWORD_MAX,
        )
    elif reason == "differ":
        text = _("The two passwords differ.")
    elif name in ("shop_name", "address", "hotline", "opens", "closes", "lunch_from", "lunch_to"):
        # The shop profile's rules in the reader's language (its own words
        # as they are, the calendar's English sentences translated).
        reason = problem_text.error_text(refused)[1]
        text = _("%(field)s: %(reason)s", field=label, reason=reason)
    else:
        text = _("Check this field: %(field)s.", field=label)
    return name, str(text)


def _form_problem(form: FlaskForm) -> tuple[str, str]:
    """(form field, sentence) for a form the page's own checks refused."""
    wrong = str(next(iter(form.errors), ""))
    if wrong == "csrf_token" or wrong not in field_labels():
        return "", str(_("The form expired; please send it again."))
    return wrong, str(_("Check this field: %(field)s.", field=field_labels()[wrong]))


# ------------------------------------------------------------ pages


def _no_store(page: str, status: int = 200) -> Response:
    response = Response(page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _gone(refused: errors.DomainError) -> Response:
    """The page of a link that does not work: which of three cases, no more."""
    if isinstance(refused, errors.NotFound):
        problem, status = "invalid", 404
    else:
        problem = "used" if refused.extra.get("reason") == "used" else "expired"
        status = 410
    page = render_template(
        "kiosk/first_run.html",
        problem=problem,
        languages=LANGUAGE_NAMES,
        locales=LOCALES,
    )
    return _no_store(page, status)


def _form_page(
    form: SetUpForm, *, status: int = 200, error: str = "", error_field: str = ""
) -> Response:
    form.request_key.data = secrets.token_urlsafe(24)
    page = render_template(
        "kiosk/first_run.html",
        problem=None,
        form=form,
        error=error,
        error_field=error_field,
        labels=field_labels(),
        time_zones=sorted(shop_settings.time_zones()),
        password_min=staff_login.PASSWORD_MIN,
        languages=LANGUAGE_NAMES,
        locales=LOCALES,
    )
    return _no_store(page, status)


def _first_run(form: SetUpForm) -> first_run.FirstRun:
    return first_run.FirstRun(
        shop_name=form.shop_name.data or "",
        address=form.address.data or "",
        hotline=form.hotline.data or "",
        timezone=form.timezone.data or "",
        opens=form.opens.data or "",
        closes=form.closes.data or "",
        lunch_from=form.lunch_from.data or "",
        lunch_to=form.lunch_to.data or "",
        admin_name=form.admin_name.data or "",
        display_name=form.display_name.data or "",
        password=form.password.data or "",
        password_repeat=form.password_repeat.data or "",
    )


def _key(form: SetUpForm) -> str | None:
    raw = form.request_key.data or ""
    return raw if raw and raw.isascii() and raw.isprintable() and " " not in raw else None


@blueprint.get("/setup/<token>")
def set_up_page(token: str) -> ResponseReturnValue:
    try:
        first_run.check_link(core(), token)
    except errors.DomainError as refused:
        return _gone(refused)
    form = SetUpForm(formdata=None, timezone=first_run.DEFAULT_TIMEZONE, **DEFAULT_HOURS)
    return _form_page(form)


@blueprint.post("/setup/<token>")
def set_up(token: str) -> ResponseReturnValue:
    try:
        first_run.check_link(core(), token)
    except first_run.LinkGone as refused:
        if refused.reason != "used":
            return _gone(refused)
        # Maybe this browser's own form sent twice: the service tells.
    except errors.DomainError as refused:
        return _gone(refused)
    form = SetUpForm()
    if not form.validate_on_submit():
        field, message = _form_problem(form)
        return _form_page(form, status=400, error=message, error_field=field)
    try:
        done = first_run.set_up(core(), token, _first_run(form), idempotency_key=_key(form))
    except errors.DomainError as refused:
        if refused.code in (first_run.LinkGone.code, errors.NotFound.code):
            return _gone(refused)
        if refused.code == errors.ValidationFailed.code:
            field, message = refusal_message(refused)
        else:  # the same Idempotency-Key sent with another form: send it anew
            field, message = "", str(_("The form expired; please send it again."))
        return _form_page(form, status=422, error=message, error_field=field)
    if done.replayed:
        # The first of two sends signed its browser in; this one is told
        # where to sign in rather than given a second session.
        return redirect(url_for("staff_session.login", shop=done.shop_slug, next="/admin"), 303)
    # A fresh cookie: nothing from before (a planted CSRF token) carries over.
    session.clear()
    login_user(SessionUser(staff_login.open_session(core(), done.admin_id)))
    return redirect("/admin", 303)
