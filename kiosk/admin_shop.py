"""Web admin, bays, the shop profile and stage labels (issue 14, items 3 and
4): /admin/bays, /admin/shop.

Only a signed-in admin or manager (session cookie) gets here; every form
carries the CSRF token (Flask-WTF); each action calls one service function
(``shared.services.bay_admin``, ``shared.services.shop_profile``), the same
the REST API calls, so the screens hear of every change at once. A form that
succeeded answers with a redirect to its page (a reload sends nothing
twice); a refused one shows the page again with the reason.

The job ticket (kiosk/templates/kiosk/ticket.html) shows the shop's address
and hotline through ``shop_contact()``, registered here for every template.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional

from shared.config import LOCALES
from shared.domain import comebacks, errors, notification_texts
from shared.domain import notifications as rules
from shared.domain.bays import BAY_KINDS
from shared.domain.policy import Command, may
from shared.persistence.models import Shop
from shared.services import (
    appointment_settings,
    bay_admin,
    notify_settings,
    queries,
    shop_profile,
    shop_settings,
)
from shared.services.auth import Principal
from shared.services.commands import CommandRequest
from shared.services.shop_profile import ProfileChange
from shared.web import problem_text
from shared.web.access import core, current_principal
from shared.web.form_text import StoredText
from shared.web.labels import default_stage_labels_by_locale

blueprint = Blueprint("admin_shop", __name__, template_folder="templates")

# Rows for breaks on the form (the calendar takes up to 10 through the API).
BREAK_ROWS = 3
LANGUAGE_NAMES = {"zh_Hans": "简体中文", "zh_Hant": "繁體中文", "en": "English"}


def _kind_labels() -> dict[str, str]:
    return {
        "general": _("General repair"),
        "quick": _("Quick service"),
        "alignment": _("Wheel alignment"),
        "ev": _("EV / high voltage"),
        "paint": _("Paint"),
        "wash": _("Wash"),
        "parking_lane": _("Parking lane"),
    }


def _weekday_labels() -> dict[int, str]:
    return {
        1: _("Monday"),
        2: _("Tuesday"),
        3: _("Wednesday"),
        4: _("Thursday"),
        5: _("Friday"),
        6: _("Saturday"),
        7: _("Sunday"),
    }


# ------------------------------------------------------------------ forms


class PlainForm(FlaskForm):
    """No fields: the CSRF token is the point (sign out, back in service)."""


class AddBayForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(max=20), StoredText()])
    name = StringField("name", validators=[Optional(), Length(max=100), StoredText()])
    kind = StringField("kind", validators=[DataRequired(), AnyOf(BAY_KINDS)])
    capacity = IntegerField(
        "capacity", validators=[Optional(), NumberRange(1, bay_admin.MAX_CAPACITY)]
    )


class EditBayForm(FlaskForm):
    name = StringField("name", validators=[DataRequired(), Length(max=100), StoredText()])
    kind = StringField("kind", validators=[DataRequired(), AnyOf(BAY_KINDS)])
    capacity = IntegerField(
        "capacity", validators=[Optional(), NumberRange(1, bay_admin.MAX_CAPACITY)]
    )


class OutOfServiceForm(FlaskForm):
    reason = StringField("reason", validators=[DataRequired(), Length(max=200), StoredText()])


class MoveForm(FlaskForm):
    position = IntegerField("position", validators=[DataRequired(), NumberRange(1, 10_000)])


class ShopForm(FlaskForm):
    version = IntegerField("version", validators=[InputRequired()])
    name = StringField("name", validators=[DataRequired(), Length(max=100), StoredText()])
    address = StringField("address", validators=[Optional(), Length(max=200), StoredText()])
    hotline = StringField("hotline", validators=[Optional(), Length(max=40), StoredText()])
    timezone = StringField("timezone", validators=[DataRequired(), Length(max=64), StoredText()])
    opens = StringField("opens", validators=[Optional(), Length(max=5), StoredText()])
    closes = StringField("closes", validators=[Optional(), Length(max=5), StoredText()])
    closed_weekdays = SelectMultipleField(
        "closed_weekdays", choices=[SelectChoice(str(d)) for d in shop_settings.WEEKDAYS]
    )
    languages = SelectMultipleField("languages", choices=[SelectChoice(x) for x in LOCALES])
    chime = BooleanField("chime")
    checks_by_one_person_allowed = BooleanField("checks_by_one_person_allowed")
    retention_days = IntegerField("retention_days", validators=[InputRequired()])
    comeback_days = IntegerField("comeback_days", validators=[InputRequired()])


# The notifications: each automatic kind loud or silent, the quiet hours,
# the cap; per provider its fields, its template codes, and its credentials
# as password fields that are never filled (empty: left as they are) with a
# box that removes one.
for _kind in rules.AUTOMATIC_KINDS:
    setattr(ShopForm, f"notify_{_kind}", BooleanField())
ShopForm.quiet_start = StringField(validators=[Optional(), Length(max=5), StoredText()])
ShopForm.quiet_end = StringField(validators=[Optional(), Length(max=5), StoredText()])
ShopForm.max_per_day = IntegerField(validators=[InputRequired()])
ShopForm.sms_provider = SelectField(
    choices=[SelectChoice(""), *(SelectChoice(p) for p in notify_settings.SMS_PROVIDERS)],
    validate_choice=False,
)
for _channel, _fields in notify_settings.PUBLIC_FIELDS.items():
    for _name in _fields:
        if (_channel, _name) != (rules.SMS, "provider"):
            setattr(
                ShopForm,
                f"{_channel}_{_name}",
                StringField(validators=[Optional(), Length(max=200), StoredText()]),
            )
    for _name in notify_settings.CREDENTIALS[_channel]:
        setattr(
            ShopForm,
            f"{_channel}_{_name}",
            PasswordField(validators=[Optional(), Length(max=notify_settings.SMTP_URL_MAX)]),
        )
        setattr(ShopForm, f"clear_{_channel}_{_name}", BooleanField())
# The shop's own text of each message in each language (empty: the standard text).
for _kind in notification_texts.DEFAULTS:
    for _locale in LOCALES:
        setattr(
            ShopForm,
            f"text_{_kind}_{_locale}",
            TextAreaField(
                validators=[
                    Optional(),
                    Length(max=notification_texts.TEMPLATE_MAX),
                    StoredText(multiline=True),
                ]
            ),
        )
for _channel in notify_settings.TEMPLATED:
    for _kind in rules.KINDS:
        setattr(
            ShopForm,
            f"{_channel}_template_{_kind}",
            StringField(validators=[Optional(), Length(max=128), StoredText()]),
        )

# One pair of fields per break row and one field per stage per language.
for _row in range(BREAK_ROWS):
    for _end in ("start", "end"):
        setattr(
            ShopForm,
            f"break_{_row}_{_end}",
            StringField(validators=[Optional(), Length(max=5), StoredText()]),
        )
for _locale in LOCALES:
    for _stage in shop_settings.STAGES:
        setattr(
            ShopForm,
            f"label_{_locale}_{_stage}",
            StringField(validators=[Optional(), Length(max=shop_settings.LABEL_MAX), StoredText()]),
        )


# ------------------------------------------------------------------ access


def _admin() -> Principal | BaseResponse:
    """The signed-in admin or manager, or the way to sign in."""
    principal = current_principal()
    if principal is None or principal.kind != "user":
        return redirect("/login?next=" + quote(request.path))
    if not may(principal, Command.ADMINISTER):
        abort(403)
    return principal


def _request(principal: Principal) -> CommandRequest:
    return CommandRequest(actor=principal.actor(), shop_id=principal.shop_id)


def _no_store(page: str, status: int = 200) -> Response:
    response = Response(page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _refusal(refused: errors.DomainError, labels: dict[str, str]) -> str:
    """A refusal in words: the field's name on the page, then the reason,
    in the reader's language (a domain's English sentence translated, a
    service's own words as they are; ``problem_text``)."""
    reason = problem_text.error_text(refused)[1]
    field = str(refused.extra.get("field", ""))
    for prefix, label in labels.items():
        if field == prefix or field.startswith(prefix + ".") or field.startswith(prefix + "["):
            if label in reason:  # the sentence names the field already
                return reason
            return str(_("%(field)s: %(reason)s", field=label, reason=reason))
    return reason


def _form_problem(form: FlaskForm, labels: dict[str, str]) -> str:
    """What a form the page's own checks refused says: the first wrong
    field by its name on the page (a missing CSRF token: send it again)."""
    wrong = str(next(iter(form.errors), ""))
    if wrong == "csrf_token":
        return str(_("The form expired; please send it again."))
    label = next(
        (text for prefix, text in labels.items() if wrong == prefix or wrong.startswith(prefix)),
        "",
    )
    if not label:
        return str(_("Check the form."))
    return str(_("%(field)s: check this field.", field=label))


# ------------------------------------------------------------------ bays


def _bay_notices() -> dict[str, str]:
    return {
        "added": _("Bay added."),
        "saved": _("Bay saved."),
        "out": _("Bay taken out of service; the board shows why."),
        "in": _("Bay back in service."),
        "moved": _("Bay moved."),
    }


def _bay_fields() -> dict[str, str]:
    return {
        "code": _("Bay code"),
        "name": _("Bay name"),
        "kind": _("Kind"),
        "capacity": _("Cars"),
        "reason": _("Reason"),
        "position": _("Place"),
    }


def _bays_page(
    principal: Principal, status: int = 200, error: str = "", add_form: AddBayForm | None = None
) -> Response:
    bays = queries.list_bays(core(), principal.shop_id)
    page = render_template(
        "kiosk/admin_bays.html",
        principal=principal,
        bays=bays,
        add_form=add_form or AddBayForm(formdata=None, kind="general"),
        csrf_form=PlainForm(),
        kinds=_kind_labels(),
        multi_car_kinds=bay_admin.MULTI_CAR_KINDS,
        max_capacity=bay_admin.MAX_CAPACITY,
        error=error,
        notice=_bay_notices().get(request.args.get("done", "")),
        shop_timezone=queries.shop_timezone(core(), principal.shop_id),
    )
    return _no_store(page, status)


def _done(what: str) -> BaseResponse:
    return redirect(url_for("admin_shop.bays", done=what), code=303)


@blueprint.get("/admin/bays")
def bays() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    return _bays_page(principal)


@blueprint.post("/admin/bays")
def add_bay() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = AddBayForm()
    if not form.validate_on_submit():
        return _bays_page(principal, 400, _form_problem(form, _bay_fields()), form)
    try:
        bay_admin.add_bay(
            core(),
            _request(principal),
            code=form.code.data or "",
            name=form.name.data or "",
            kind=form.kind.data or "general",
            capacity=form.capacity.data or 1,
        )
    except errors.DomainError as refused:
        return _bays_page(principal, refused.status, _refusal(refused, _bay_fields()), form)
    return _done("added")


def _bay_command(principal: Principal, form: FlaskForm, run: Any, done: str) -> ResponseReturnValue:
    """Run one bay command from a row's form; the page again on a refusal."""
    if not form.validate_on_submit():
        return _bays_page(principal, 400, _form_problem(form, _bay_fields()))
    try:
        run()
    except errors.NotFound:
        abort(404)
    except errors.DomainError as refused:
        return _bays_page(principal, refused.status, _refusal(refused, _bay_fields()))
    return _done(done)


@blueprint.post("/admin/bays/<code>/edit")
def edit_bay(code: str) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = EditBayForm()
    change = bay_admin.BayChange(
        name=form.name.data or "", kind=form.kind.data or "", capacity=form.capacity.data
    )
    return _bay_command(
        principal,
        form,
        lambda: bay_admin.change_bay(core(), _request(principal), code, change),
        "saved",
    )


@blueprint.post("/admin/bays/<code>/out")
def take_out(code: str) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = OutOfServiceForm()
    return _bay_command(
        principal,
        form,
        lambda: bay_admin.take_out_of_service(
            core(), _request(principal), code, form.reason.data or ""
        ),
        "out",
    )


@blueprint.post("/admin/bays/<code>/in")
def back_in(code: str) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    return _bay_command(
        principal,
        PlainForm(),
        lambda: bay_admin.return_to_service(core(), _request(principal), code),
        "in",
    )


@blueprint.post("/admin/bays/<code>/move")
def move(code: str) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = MoveForm()
    return _bay_command(
        principal,
        form,
        lambda: bay_admin.move_bay(core(), _request(principal), code, form.position.data or 1),
        "moved",
    )


# ------------------------------------------------------------------ shop profile


def _notify_kind_labels() -> dict[str, str]:
    """Each kind of message by what it tells the customer."""
    return {
        "order_received": _("Car received (with the tracking link)"),
        "quote_waiting": _("Additional work waiting for the customer's OK"),
        "promise_changed": _("New promised time, with its reason"),
        "ready_for_pickup": _("Ready for pickup"),
        "survey": _("Survey after delivery"),
        "one_off": _("A message from the desk"),
        "appointment_reminder": _("Appointment reminder"),
        "booking_code": _("Booking code (the booking page's phone check)"),
    }


def _credential_labels() -> dict[str, str]:
    return {
        "access_key_id": _("AccessKey ID (Alibaba Cloud)"),
        "access_key_secret": _("AccessKey secret (Alibaba Cloud)"),
        "secret_id": _("SecretId (Tencent Cloud)"),
        "secret_key": _("SecretKey (Tencent Cloud)"),
        "app_secret": _("AppSecret"),
        "smtp_url": _("Mail server (smtps://user:password@host:465)"),
    }


def _shop_fields() -> dict[str, str]:
    return {
        "name": _("Shop name"),
        "address": _("Address"),
        "hotline": _("Service hotline"),
        "timezone": _("Time zone"),
        "opening_hours.open": _("Opens"),
        "opening_hours.close": _("Closes"),
        "opening_hours.breaks": _("Breaks"),
        "opening_hours.closed_weekdays": _("Closed on"),
        "opening_hours": _("Opening hours"),
        "lounge": _("Lounge TV"),
        "retention_days": _("Keep customer data"),
        "stage_labels": _("Stage labels"),
        "checks_by_one_person_allowed": _("Quality checks"),
        "comeback_days": _("Comebacks within"),
        "notify.kinds": _("Messages sent"),
        "notify.quiet_hours": _("Quiet hours"),
        "notify.max_per_order_per_day": _("Messages per order per day"),
        "notify.templates": _("Message texts"),
        "notify": _("Notifications"),
        "notify_providers.sms": _("SMS"),
        "notify_providers.wechat": _("WeChat"),
        "notify_providers.email": _("E-mail"),
        "version": _("Shop profile"),
    }


def _shop_form_fields() -> dict[str, str]:
    """The shop form's fields by their names on the page."""
    fields = _shop_fields()
    return {
        "name": fields["name"],
        "address": fields["address"],
        "hotline": fields["hotline"],
        "timezone": fields["timezone"],
        "opens": fields["opening_hours.open"],
        "closes": fields["opening_hours.close"],
        "break_": fields["opening_hours.breaks"],
        "closed_weekdays": fields["opening_hours.closed_weekdays"],
        "languages": fields["lounge"],
        "chime": fields["lounge"],
        "retention_days": fields["retention_days"],
        "label_": fields["stage_labels"],
        "checks_by_one_person_allowed": fields["checks_by_one_person_allowed"],
        "comeback_days": fields["comeback_days"],
        "notify_": fields["notify.kinds"],
        "quiet_": fields["notify.quiet_hours"],
        "max_per_day": fields["notify.max_per_order_per_day"],
        "text_": fields["notify.templates"],
        "sms_": fields["notify_providers.sms"],
        "clear_sms_": fields["notify_providers.sms"],
        "wechat_": fields["notify_providers.wechat"],
        "clear_wechat_": fields["notify_providers.wechat"],
        "email_": fields["notify_providers.email"],
        "clear_email_": fields["notify_providers.email"],
        "version": fields["version"],
    }


def _profile_form(profile: dict[str, Any]) -> ShopForm:
    """The form filled from the profile as it is stored."""
    hours = profile["opening_hours"]
    data: dict[str, Any] = {
        "version": profile["version"],
        "name": profile["name"],
        "address": profile["address"],
        "hotline": profile["hotline"],
        "timezone": profile["timezone"],
        "opens": hours["open"] or "",
        "closes": hours["close"] or "",
        "closed_weekdays": [str(d) for d in hours["closed_weekdays"]],
        "languages": list(profile["lounge"]["languages"]),
        "chime": profile["lounge"]["chime"],
        "retention_days": profile["retention_days"],
        "checks_by_one_person_allowed": profile["checks_by_one_person_allowed"],
        "comeback_days": profile["comeback_days"],
    }
    notify = profile["notify"]
    data.update({f"notify_{kind}": loud for kind, loud in notify["kinds"].items()})
    data["quiet_start"] = notify["quiet_hours"]["start"]
    data["quiet_end"] = notify["quiet_hours"]["end"]
    data["max_per_day"] = notify["max_per_order_per_day"]
    for kind, texts in notify["templates"].items():
        for locale, words in texts.items():
            data[f"text_{kind}_{locale}"] = words
    for channel, entry in profile["notify_providers"].items():
        for name in notify_settings.PUBLIC_FIELDS[channel]:
            data[f"{channel}_{name}"] = entry[name]
        for kind, code in entry.get("templates", {}).items():
            data[f"{channel}_template_{kind}"] = code
    for row, item in enumerate(hours["breaks"][:BREAK_ROWS]):
        data[f"break_{row}_start"] = item["start"]
        data[f"break_{row}_end"] = item["end"]
    for locale, words in profile["stage_labels"].items():
        for stage, word in words.items():
            data[f"label_{locale}_{stage}"] = word
    return ShopForm(formdata=None, data=data)


def _shop_page(
    principal: Principal, form: ShopForm | None = None, status: int = 200, error: str = ""
) -> Response:
    profile = shop_profile.profile(core(), principal.shop_id)
    page = render_template(
        "kiosk/admin_shop.html",
        principal=principal,
        form=form or _profile_form(profile),
        csrf_form=PlainForm(),
        profile=profile,
        defaults=default_stage_labels_by_locale(),
        stages=shop_settings.STAGES,
        locales=LOCALES,
        language_names=LANGUAGE_NAMES,
        weekdays=_weekday_labels(),
        break_rows=range(BREAK_ROWS),
        time_zones=sorted(shop_settings.time_zones()),
        retention_min=shop_settings.RETENTION_MIN_DAYS,
        retention_max=shop_settings.RETENTION_MAX_DAYS,
        comeback_min=comebacks.MIN_DAYS,
        comeback_max=comebacks.MAX_DAYS,
        notify_kinds=_notify_kind_labels(),
        automatic_kinds=rules.AUTOMATIC_KINDS,
        templated=notify_settings.TEMPLATED,
        credentials=notify_settings.CREDENTIALS,
        credential_labels=_credential_labels(),
        max_per_day_limit=rules.MAX_PER_DAY_LIMIT,
        default_texts=notification_texts.DEFAULTS,
        placeholders=" ".join("{" + p + "}" for p in notification_texts.PLACEHOLDERS),
        text_max=notification_texts.TEMPLATE_MAX,
        error=error,
        notice=_notice(request.args.get("done")),
        shop_timezone=profile["timezone"],
        appointments=_appointment_settings(principal.shop_id),
        appointment_words=_appointment_words(),
    )
    return _no_store(page, status)


def _notice(done: str | None) -> str:
    if done == "saved":
        return str(_("Shop profile saved; the screens show it now."))
    if done == "appointments":
        return str(_("Appointment settings saved."))
    return ""


def _appointment_settings(shop_id: int) -> appointment_settings.AppointmentSettings:
    """The shop's appointment settings as stored (the defaults where unset)."""
    with core().db.read() as session:
        shop = session.get(Shop, shop_id)
        return appointment_settings.read(shop.settings if shop else None)


def _appointment_words() -> dict[str, str]:
    """What admin_appointments.js says."""
    return {
        "saving": _("Saving…"),
        "stale": _(
            "Someone else saved the shop profile meanwhile. The page shows it as it is "
            "now: make your change again."
        ),
        "error": _("Could not save: %(detail)s", detail="{detail}"),
    }


def _change(form: ShopForm) -> ProfileChange:
    breaks = []
    for row in range(BREAK_ROWS):
        start = str(form[f"break_{row}_start"].data or "").strip()
        end = str(form[f"break_{row}_end"].data or "").strip()
        if start or end:
            breaks.append((start, end))
    return ProfileChange(
        name=form.name.data or "",
        address=form.address.data or "",
        hotline=form.hotline.data or "",
        timezone=(form.timezone.data or "").strip(),
        hours=shop_settings.Hours(
            open=(form.opens.data or "").strip() or None,
            close=(form.closes.data or "").strip() or None,
            breaks=tuple(breaks),
            closed_weekdays=tuple(int(d) for d in form.closed_weekdays.data or ()),
        ),
        stage_labels={
            locale: {
                stage: str(form[f"label_{locale}_{stage}"].data or "") or None
                for stage in shop_settings.STAGES
            }
            for locale in LOCALES
        },
        retention_days=form.retention_days.data,
        lounge_languages=tuple(form.languages.data or ()),
        lounge_chime=bool(form.chime.data),
        checks_by_one_person_allowed=bool(form.checks_by_one_person_allowed.data),
        comeback_days=form.comeback_days.data,
        notify={
            "kinds": {kind: bool(form[f"notify_{kind}"].data) for kind in rules.AUTOMATIC_KINDS},
            "quiet_hours": {
                "start": (form.quiet_start.data or "").strip(),
                "end": (form.quiet_end.data or "").strip(),
            },
            "max_per_order_per_day": form.max_per_day.data,
            "templates": _texts_change(form),
        },
        notify_providers=_providers_change(form),
    )


def _texts_change(form: ShopForm) -> dict[str, dict[str, str]]:
    """The shop's own texts as typed: every one left empty is the standard."""
    texts: dict[str, dict[str, str]] = {}
    for kind in notification_texts.DEFAULTS:
        for locale in LOCALES:
            words = str(form[f"text_{kind}_{locale}"].data or "").strip()
            if words:
                texts.setdefault(kind, {})[locale] = words
    return texts


def _providers_change(form: ShopForm) -> dict[str, dict[str, Any] | None]:
    """The providers' settings as the form gives them: every public field
    and template code as typed (empty removes it); a credential only when
    typed (the field is never filled in), or removed when its box is ticked."""
    change: dict[str, dict[str, Any] | None] = {}
    for channel, public in notify_settings.PUBLIC_FIELDS.items():
        given: dict[str, Any] = {
            name: str(form[f"{channel}_{name}"].data or "").strip() for name in public
        }
        if channel in notify_settings.TEMPLATED:
            given["templates"] = {
                kind: str(form[f"{channel}_template_{kind}"].data or "").strip()
                for kind in rules.KINDS
            }
        for name in notify_settings.CREDENTIALS[channel]:
            typed = str(form[f"{channel}_{name}"].data or "").strip()
            if form[f"clear_{channel}_{name}"].data:
                given[name] = ""
            elif typed:
                given[name] = typed
        change[channel] = given
    return change


@blueprint.get("/admin/shop")
def shop() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    return _shop_page(principal)


@blueprint.post("/admin/shop")
def save_shop() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = ShopForm()
    if not form.validate_on_submit():
        return _shop_page(principal, form, 400, _form_problem(form, _shop_form_fields()))
    try:
        shop_profile.update_profile(
            core(), _request(principal), _change(form), version=form.version.data or 0
        )
    except errors.StaleVersion:
        # Someone saved first: the page shows the profile as it is now.
        return _shop_page(
            principal,
            status=409,
            error=_(
                "Someone else saved the shop profile while you were editing it. This is "
                "the profile as it is now: make your change again."
            ),
        )
    except errors.DomainError as refused:
        return _shop_page(principal, form, refused.status, _refusal(refused, _shop_fields()))
    return redirect(url_for("admin_shop.shop", done="saved"), code=303)


# ------------------------------------------------------------------ the ticket's contact


@blueprint.app_template_global("shop_contact")
def shop_contact() -> dict[str, str]:
    """The signed-in staff member's shop: name, address and hotline (the job
    ticket prints them); empty when nobody is signed in."""
    principal = current_principal()
    if principal is None:
        return {"name": "", "address": "", "hotline": ""}
    return shop_profile.contact(core(), principal.shop_id)
