"""Web admin, staff (issue 14, item 2): /admin/staff.

Only a signed-in admin or manager (session cookie) gets here; every form
carries the CSRF token (Flask-WTF); each action calls one service function
(shared/services/staff_admin.py). The page needs no script: a deactivation
is confirmed on a page of its own before anything changes.

Each rendered form carries a fresh Idempotency-Key and the staff member's
``version``: a double click answers with the first result, and a change
someone else made in between is refused with the current state shown. PINs
and passwords are never put back into a page, not even after a refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import Length, Optional

from shared.domain import errors
from shared.domain.policy import Command, may
from shared.services import queries, staff_admin
from shared.services.auth import Principal
from shared.services.commands import CommandRequest, Outcome, fingerprint
from shared.web import problem_text
from shared.web.access import core, current_principal
from shared.web.form_text import StoredText

blueprint = Blueprint("admin_staff", __name__, template_folder="templates")

PAGE = "/admin/staff"
KEY_LENGTH = 64


# ------------------------------------------------------------ forms


class _KeyedForm(FlaskForm):
    """Every form: its own Idempotency-Key (new at each rendering)."""

    request_key = HiddenField("request_key", validators=[Optional(), Length(max=KEY_LENGTH)])


class _VersionedForm(_KeyedForm):
    """A form about one staff member: the version the page showed."""

    version = HiddenField("version", validators=[Optional(), Length(max=64)])


def _text(limit: int) -> list[Any]:
    return [Optional(), Length(max=limit), StoredText()]


class ProfileFields:
    """The profile fields shared by the add form and the edit form. The role
    is a plain field checked by the service: the page renders its <select>."""

    name = StringField("name", validators=_text(staff_admin.NAME_MAX))
    display_name = StringField("display_name", validators=_text(staff_admin.DISPLAY_NAME_MAX))
    role = StringField("role", validators=_text(30))
    team_lead = BooleanField("team_lead")
    qc_inspector = BooleanField("qc_inspector")
    # Skills (staff_admin.SKILLS): the bay kinds' work the technician is trained for.
    ev = BooleanField("ev")
    paint = BooleanField("paint")
    alignment = BooleanField("alignment")
    phone = StringField("phone", validators=_text(staff_admin.PHONE_MAX))
    badge = StringField("badge", validators=_text(40))


class AddForm(_KeyedForm, ProfileFields):
    pin = PasswordField("pin", validators=_text(staff_admin.PIN_MAX))
    password = PasswordField("password", validators=_text(200))


class EditForm(_VersionedForm, ProfileFields):
    pass


class PinForm(_VersionedForm):
    pin = PasswordField("pin", validators=_text(staff_admin.PIN_MAX))


class PasswordForm(_VersionedForm):
    password = PasswordField("password", validators=_text(200))


class ActionForm(_VersionedForm):
    """Deactivate, reactivate, unlock: the version and the key are all."""


# ------------------------------------------------------------ words


def role_labels() -> dict[str, str]:
    return {
        "admin": _("Administrator"),
        "manager": _("Service manager"),
        "advisor": _("Service advisor"),
        "foreman": _("Workshop foreman"),
        "technician": _("Technician"),
    }


def qualification_labels() -> dict[str, str]:
    return {
        "team_lead": _("Team lead"),
        "qc_inspector": _("QC inspector"),
        "group": _("Dealer group"),
        **skill_labels(),
    }


def skill_labels() -> dict[str, str]:
    """The skills (``staff_admin.SKILLS``) in the words the bay kinds use."""
    return {
        "ev": _("EV / high voltage"),
        "paint": _("Body and paint work"),
        "alignment": _("Wheel alignment"),
    }


def field_labels() -> dict[str, str]:
    return {
        "name": _("Name"),
        "display_name": _("Name shown to customers"),
        "role": _("Role"),
        "qualifications": _("Qualifications"),
        "phone": _("Phone"),
        "badge": _("Badge"),
        "pin": _("PIN"),
        "password": _("Password"),
        "active": pgettext("staff", "Active"),
        "version": _("Version"),
    }


def refusal_message(refused: errors.DomainError) -> str:
    """A refusal of the service in the reader's language."""
    if isinstance(refused, errors.StaleVersion):
        return str(_("Someone else changed this person first. This is how it is now."))
    if not isinstance(refused, errors.ValidationFailed):
        # Why, as the service said it (which rule refused: an admin's
        # account, a group member's…), in the reader's language.
        return problem_text.error_text(refused)[1]
    field = refused.field
    label = field_labels().get(field, field)
    reason = refused.extra.get("reason")
    messages = {
        "required": _("Fill in: %(field)s.", field=label),
        "too_long": _("Too long: %(field)s.", field=label),
        "unknown": _("Choose from the list: %(field)s.", field=label),
        "twice": _("Choose from the list: %(field)s.", field=label),
        "pin_format": _(
            "A PIN is %(low)s to %(high)s digits.",
            low=staff_admin.PIN_MIN,
            high=staff_admin.PIN_MAX,
        ),
        "password_length": _("A password has %(low)s to %(high)s characters.", low=8, high=200),
        "badge_and_pin": _("A badge and a PIN go together."),
        "own_account": _("You cannot deactivate yourself or change your own role."),
        "last_admin": _("The shop needs at least one active administrator."),
    }
    if reason == "taken":
        if field == "badge":
            return str(_("This badge belongs to someone else in this shop."))
        return str(_("Someone in this shop already has this name."))
    if reason == "credentials":
        if field == "password":
            return str(_("This role signs in with a password: set one."))
        return str(_("A technician signs in on the kiosk: give a badge and a PIN."))
    if reason in messages:
        return str(messages[reason])
    return str(_("Check this field: %(field)s.", field=label))


# ------------------------------------------------------------ helpers


def _admin() -> Principal | BaseResponse:
    """The signed-in admin or manager, or the way to sign in."""
    principal = current_principal()
    if principal is None or principal.kind != "user":
        return redirect("/login?next=" + quote(request.path))
    if not may(principal, Command.ADMINISTER):
        abort(403)
    return principal


def _fingerprint(form: FlaskForm) -> str:
    """The form as the Idempotency-Key's fingerprint, secrets as an HMAC under
    the app's key (as the REST API does: the fingerprint is stored)."""
    key = core().settings.secret_key.encode()
    fields: dict[str, Any] = {}
    for field in form:
        if field.name in ("csrf_token", "request_key"):
            continue
        value = field.data
        if field.name in ("pin", "password") and isinstance(value, str):
            value = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
        fields[field.name] = value
    return fingerprint("POST", request.path, fields)


def _request(principal: Principal, form: _KeyedForm) -> CommandRequest:
    raw = form.request_key.data or ""
    key = raw if raw.isascii() and raw.isprintable() and " " not in raw and raw else None
    return CommandRequest(
        actor=principal.actor(),
        shop_id=principal.shop_id,
        idempotency_key=key,
        fingerprint=_fingerprint(form) if key else None,
    )


def _new_key() -> str:
    return secrets.token_urlsafe(24)


def _keyed(form: _KeyedForm) -> _KeyedForm:
    form.request_key.data = _new_key()
    return form


def _blank(text: str | None) -> str | None:
    """An empty optional field of a form: left out."""
    return text if text else None


def _qualifications(form: ProfileFields) -> tuple[str, ...]:
    chosen = []
    if form.team_lead.data:
        chosen.append("team_lead")
    if form.qc_inspector.data:
        chosen.append("qc_inspector")
    chosen.extend(skill for skill in staff_admin.SKILLS if getattr(form, skill).data)
    return tuple(chosen)


def _when(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def _render(
    principal: Principal, template_args: dict[str, Any], status: int = 200, error: str = ""
) -> Response:
    notices = get_flashed_messages()
    page = render_template(
        "kiosk/admin_staff.html",
        principal=principal,
        roles=role_labels(),
        qualification_names=qualification_labels(),
        shop_timezone=queries.shop_timezone(core(), principal.shop_id),
        logout_form=FlaskForm(),
        error=error,
        notice=notices[-1] if notices else "",
        **template_args,
    )
    response = Response(page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _list_page(
    principal: Principal, status: int = 200, error: str = "", form: AddForm | None = None
) -> Response:
    people = staff_admin.list_staff(core(), principal.shop_id)
    for person in people:
        clock = person["running_clock"]
        person["clock_since"] = _when(clock["started_at"]) if clock else None
    if form is None:
        form = AddForm(formdata=None, role="technician")
    _keyed(form)
    actions = {
        person["id"]: _keyed(ActionForm(formdata=None, version=person["version"]))
        for person in people
    }
    return _render(
        principal,
        {"view": "list", "people": people, "add_form": form, "actions": actions},
        status,
        error,
    )


def _person(principal: Principal, user_id: int) -> dict[str, Any]:
    try:
        person = staff_admin.get_staff(core(), principal.shop_id, user_id)
    except errors.NotFound:
        abort(404)
    clock = person["running_clock"]
    person["clock_since"] = _when(clock["started_at"]) if clock else None
    return person


def _edit_page(
    principal: Principal,
    user_id: int,
    status: int = 200,
    error: str = "",
    edit_form: EditForm | None = None,
) -> Response:
    person = _person(principal, user_id)
    version = person["version"]
    if edit_form is None:
        edit_form = EditForm(
            formdata=None,
            name=person["name"],
            display_name=person["display_name"],
            role=person["role"],
            team_lead="team_lead" in person["qualifications"],
            qc_inspector="qc_inspector" in person["qualifications"],
            ev="ev" in person["qualifications"],
            paint="paint" in person["qualifications"],
            alignment="alignment" in person["qualifications"],
            phone=person["phone"],
            badge=person["badge"] or "",
        )
    # Whatever was typed, the form now answers for the version shown.
    edit_form.version.data = version
    forms = {
        "edit_form": _keyed(edit_form),
        "pin_form": _keyed(PinForm(formdata=None, version=version)),
        "password_form": _keyed(PasswordForm(formdata=None, version=version)),
        "action_form": _keyed(ActionForm(formdata=None, version=version)),
    }
    leave = {
        # From the shop's today on: a save replaces those (past days stay).
        "days": list(person.get("leave", [])),
        "words": _leave_words(),
        "notice": _("Leave days saved.") if request.args.get("done") == "leave" else "",
    }
    return _render(
        principal, {"view": "edit", "person": person, "leave": leave, **forms}, status, error
    )


def _leave_words() -> dict[str, str]:
    """What admin_appointments.js says on the leave days."""
    return {
        "remove": _("Remove"),
        # TRANSLATORS: a button's name for a screen reader: remove this leave day.
        "remove_day": _("Remove the leave day %(day)s", day="{day}"),
        "stale": _(
            "Someone else changed this person meanwhile. Reload the page and make your "
            "change again."
        ),
        "error": _("Could not save: %(detail)s", detail="{detail}"),
    }


def _done(message: str, target: str) -> BaseResponse:
    """After a change, the page again by GET (a reload repeats nothing),
    with what was done."""
    flash(message)
    return redirect(target, code=303)


def _name_of(outcome: Outcome) -> str:
    return str(outcome.body.get("name", ""))


# ------------------------------------------------------------ views


@blueprint.get(PAGE)
def staff() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    return _list_page(principal)


@blueprint.post(PAGE)
def add() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = AddForm()
    if not form.validate_on_submit():
        return _list_page(principal, 422, _first_form_error(form), form)
    new = staff_admin.NewStaff(
        name=form.name.data or "",
        role=form.role.data or "",
        display_name=form.display_name.data or "",
        qualifications=_qualifications(form),
        phone=form.phone.data or "",
        badge=_blank(form.badge.data),
        pin=_blank(form.pin.data),
        password=_blank(form.password.data),
    )
    try:
        outcome = staff_admin.add_staff(core(), _request(principal, form), new)
    except errors.DomainError as refused:
        return _list_page(principal, refused.status, refusal_message(refused), form)
    return _done(_("Added: %(name)s.", name=_name_of(outcome)), PAGE)


def _first_form_error(form: FlaskForm) -> str:
    """The first field the form's own checks refused, named in the reader's
    language (the CSRF token's refusal included: the page was too old)."""
    for field in form:
        if field.errors:
            if field.name == "csrf_token":
                return str(_("The page was too old. Try again."))
            return str(
                _("Check this field: %(field)s.", field=field_labels().get(field.name, field.name))
            )
    return str(_("Try again."))


@blueprint.get(f"{PAGE}/<int:user_id>")
def edit(user_id: int) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    return _edit_page(principal, user_id)


def _command(
    principal: Principal,
    user_id: int,
    form: _VersionedForm,
    run: Callable[[CommandRequest, str], Outcome],
    success: Callable[[str], str],
    *,
    target: str | None = None,
) -> ResponseReturnValue:
    """Run one command from a form about one person; on refusal the person's
    page again with why (a stale version shows the current state)."""
    if not form.validate_on_submit():
        return _edit_page(principal, user_id, 422, _first_form_error(form))
    try:
        outcome = run(_request(principal, form), form.version.data or "")
    except errors.NotFound:
        abort(404)
    except errors.DomainError as refused:
        kept = (
            form
            if isinstance(form, EditForm) and not isinstance(refused, errors.StaleVersion)
            else None
        )
        return _edit_page(principal, user_id, refused.status, refusal_message(refused), kept)
    return _done(success(_name_of(outcome)), target or f"{PAGE}/{user_id}")


@blueprint.post(f"{PAGE}/<int:user_id>")
def save(user_id: int) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = EditForm()
    changes = staff_admin.StaffChanges(
        name=form.name.data or "",
        display_name=form.display_name.data or "",
        role=form.role.data or "",
        qualifications=_qualifications(form),
        phone=form.phone.data or "",
        badge=form.badge.data or "",
    )

    def run(command: CommandRequest, version: str) -> Outcome:
        return staff_admin.edit_staff(core(), command, user_id, changes, version=version)

    return _command(principal, user_id, form, run, lambda name: _("Saved: %(name)s.", name=name))


@blueprint.post(f"{PAGE}/<int:user_id>/pin")
def pin(user_id: int) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = PinForm()

    def run(command: CommandRequest, version: str) -> Outcome:
        return staff_admin.set_pin(core(), command, user_id, form.pin.data or "", version=version)

    return _command(
        principal, user_id, form, run, lambda name: _("New PIN set for %(name)s.", name=name)
    )


@blueprint.post(f"{PAGE}/<int:user_id>/password")
def password(user_id: int) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = PasswordForm()

    def run(command: CommandRequest, version: str) -> Outcome:
        return staff_admin.reset_password(
            core(), command, user_id, form.password.data or "", version=version
        )

    def message(name: str) -> str:
        return str(
            _(
                "New password set for %(name)s: they choose their own at their next sign-in.",
                name=name,
            )
        )

    return _command(principal, user_id, form, run, message)


@blueprint.get(f"{PAGE}/<int:user_id>/deactivate")
def confirm_deactivation(user_id: int) -> ResponseReturnValue:
    """The question before a deactivation: what it ends, and a button."""
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    person = _person(principal, user_id)
    if not person["active"]:
        return redirect(f"{PAGE}/{user_id}", code=303)
    form = _keyed(ActionForm(formdata=None, version=person["version"]))
    return _render(principal, {"view": "confirm", "person": person, "action_form": form})


@blueprint.post(f"{PAGE}/<int:user_id>/deactivate")
def deactivate(user_id: int) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal

    def run(command: CommandRequest, version: str) -> Outcome:
        return staff_admin.deactivate(core(), command, user_id, version=version)

    def message(name: str) -> str:
        return str(_("Deactivated: %(name)s. Their sessions and clock have ended.", name=name))

    return _command(principal, user_id, ActionForm(), run, message, target=PAGE)


@blueprint.post(f"{PAGE}/<int:user_id>/reactivate")
def reactivate(user_id: int) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal

    def run(command: CommandRequest, version: str) -> Outcome:
        return staff_admin.reactivate(core(), command, user_id, version=version)

    def message(name: str) -> str:
        return str(_("Reactivated: %(name)s.", name=name))

    return _command(principal, user_id, ActionForm(), run, message, target=PAGE)


@blueprint.post(f"{PAGE}/<int:user_id>/unlock")
def unlock(user_id: int) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal

    def run(command: CommandRequest, version: str) -> Outcome:
        return staff_admin.unlock(core(), command, user_id, version=version)

    def message(name: str) -> str:
        return str(_("Unlocked: %(name)s can sign in again.", name=name))

    return _command(principal, user_id, ActionForm(), run, message, target=PAGE)
