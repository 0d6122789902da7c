"""Web admin, API tokens and the audit log (issue 14, items 6 and 7):
/admin/tokens, /admin/audit.

Only a signed-in admin or manager (session cookie) gets here; every form
that changes something carries the CSRF token (Flask-WTF; the audit's
filters are a GET form that changes nothing); each action calls one service
function, the same as REST v1 and the CLI call."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import StringField
from wtforms.validators import AnyOf, DataRequired, Length

from kiosk import admin_staff
from kiosk.admin import signed_in_admin
from shared.domain import errors
from shared.domain.stages import Role
from shared.services import api_tokens, audit, queries
from shared.services.auth import TOKEN_ROLES, Principal
from shared.services.commands import CommandRequest
from shared.web import api_tokens as rest
from shared.web.access import core
from shared.web.form_text import StoredText
from shared.web.labels import check_level_labels, pause_labels, stage_labels

blueprint = Blueprint("admin_tokens", __name__, template_folder="templates")


class CreateTokenForm(FlaskForm):
    name = StringField("name", validators=[DataRequired(), Length(max=100), StoredText()])
    # A plain field checked against the roles: the page renders its own <select>.
    role = StringField("role", validators=[DataRequired(), AnyOf(TOKEN_ROLES)])


class RevokeForm(FlaskForm):
    """No fields: the CSRF token is the point."""


def _no_store(page: str, status: int = 200) -> Response:
    """Admin pages are never cached: one of them carries a new token's secret."""
    response = Response(page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def role_labels() -> dict[str, str]:
    return {
        "admin": _("Admin"),
        "manager": _("Service manager"),
        "advisor": _("Service advisor"),
        "foreman": _("Foreman"),
        "technician": _("Technician"),
        "display-board": _("Workshop board"),
        "display-lounge": _("Waiting lounge"),
    }


def _roles_for(principal: Principal) -> dict[str, str]:
    """The roles this admin may give a new token (a manager no admin)."""
    labels = role_labels()
    allowed = [r for r in TOKEN_ROLES if r != Role.ADMIN.value or principal.role == "admin"]
    return {role: labels.get(role, role) for role in allowed}


# ------------------------------------------------------------------ tokens


def _tokens_page(
    principal: Principal, status: int = 200, *, form: CreateTokenForm | None = None, **more: Any
) -> Response:
    page = render_template(
        "kiosk/admin_tokens.html",
        principal=principal,
        form=form or CreateTokenForm(formdata=None),
        revoke_form=RevokeForm(),
        tokens=api_tokens.list_tokens(core(), principal.shop_id),
        roles=_roles_for(principal),
        role_names=role_labels(),
        shop_timezone=queries.shop_timezone(core(), principal.shop_id),
        **more,
    )
    return _no_store(page, status)


@blueprint.get("/admin/tokens")
def tokens() -> ResponseReturnValue:
    principal = signed_in_admin("/admin/tokens")
    if isinstance(principal, BaseResponse):
        return principal
    notice = _("Token revoked.") if request.args.get("revoked") else None
    return _tokens_page(principal, notice=notice)


@blueprint.post("/admin/tokens")
def create_token() -> ResponseReturnValue:
    principal = signed_in_admin("/admin/tokens")
    if isinstance(principal, BaseResponse):
        return principal
    form = CreateTokenForm()
    if not form.validate_on_submit():
        return _tokens_page(principal, 400, form=form, error=_("Give the token a name and a role."))
    try:
        secret = api_tokens.create_token(
            core(),
            principal.actor(),
            shop_id=principal.shop_id,
            role=form.role.data or "",
            name=form.name.data or "",
        )
    except errors.Forbidden:
        return _tokens_page(
            principal, 403, form=form, error=_("Only an admin may make an admin token.")
        )
    except errors.ValidationFailed:
        return _tokens_page(principal, 400, form=form, error=_("Give the token a name and a role."))
    return _tokens_page(principal, 201, new_secret=secret, new_name=(form.name.data or "").strip())


def _token(principal: Principal, token_id: int) -> api_tokens.TokenInfo:
    """One token of the admin's shop; another shop's is as unknown (404)."""
    for token in api_tokens.list_tokens(core(), principal.shop_id):
        if token.id == token_id:
            return token
    abort(404)


@blueprint.get("/admin/tokens/<int:token_id>/revoke")
def confirm_revoke_token(token_id: int) -> ResponseReturnValue:
    """The confirmation step: what will stop, and the button that does it."""
    principal = signed_in_admin("/admin/tokens")
    if isinstance(principal, BaseResponse):
        return principal
    token = _token(principal, token_id)
    if not token.active:
        return redirect(url_for("admin_tokens.tokens"), code=303)
    page = render_template(
        "kiosk/admin_confirm_revoke.html",
        principal=principal,
        form=RevokeForm(),
        admin_tab="tokens",
        title=_("Revoke API token “%(name)s”?", name=token.name),
        consequence=_(
            "Every request with this token is refused from now on, and the screens and "
            "programs connected with it are cut off within seconds. This cannot be undone: "
            "make a new token to give access again."
        ),
        action=url_for("admin_tokens.revoke_token", token_id=token_id),
        back=url_for("admin_tokens.tokens"),
    )
    return _no_store(page)


@blueprint.post("/admin/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> ResponseReturnValue:
    principal = signed_in_admin("/admin/tokens")
    if isinstance(principal, BaseResponse):
        return principal
    if not RevokeForm().validate_on_submit():
        abort(400)
    request_ = CommandRequest(actor=principal.actor(), shop_id=principal.shop_id)
    try:
        api_tokens.revoke_token(core(), request_, token_id)
    except errors.NotFound:
        abort(404)
    return redirect(url_for("admin_tokens.tokens", revoked=token_id), code=303)


# ------------------------------------------------------------------- audit


def event_labels() -> dict[str, str]:
    return {
        "order_created": _("Order opened"),
        "stage_changed": _("Stage changed"),
        "assigned": _("Dispatched"),
        "check_passed": _("Check passed"),
        "check_failed": _("Check failed"),
        "extra_work_quoted": _("Additional work quoted"),
        "quote_revised": _("Quote revised"),
        "extra_work_decided": _("Additional work decided"),
        "quote_expired": _("Quote expired"),
        "pause_reason_added": _("Pause reason added"),
        "pause_reason_cleared": _("Pause reason cleared"),
        "parts_requested": _("Parts requested"),
        "parts_status_changed": _("Parts status changed"),
        "survey_submitted": _("Survey submitted"),
        "promise_changed": _("Promise changed"),
        "eta_revised": _("Estimate revised"),
        "comeback_flagged": _("Comeback flagged"),
        "comeback_unflagged": _("Comeback mark withdrawn"),
    }


def via_labels() -> dict[str, str]:
    return {
        "staff": _("Staff sign-in"),
        "token": _("API token"),
        "customer": _("Customer link"),
        "system": _("System"),
    }


def admin_event_labels() -> dict[str, str]:
    """The administration commands (``shared.services.admin_events``)."""
    return {
        "staff_added": _("Staff member added"),
        "staff_changed": _("Staff member changed"),
        "staff_deactivated": _("Staff member deactivated"),
        "staff_reactivated": _("Staff member reactivated"),
        "pin_set": _("PIN set"),
        "password_reset": _("Password reset"),
        "badge_unlocked": _("Badge unlocked"),
        "bay_added": _("Bay added"),
        "bay_changed": _("Bay changed"),
        "shop_changed": _("Shop profile changed"),
        "token_created": _("API token made"),
        "token_revoked": _("API token revoked"),
        "device_paired": _("Screen paired"),
        "device_renamed": _("Screen renamed"),
        "device_revoked": _("Screen revoked"),
    }


def kind_labels() -> dict[str, str]:
    """The audit's two logs, for the kind filter."""
    return {"order": _("Orders"), "admin": _("Administration")}


def _admin_field_labels(target_kind: str) -> dict[str, str]:
    """What each changed field is called, by what was changed (the words of
    the staff, bays and shop pages)."""
    if target_kind == "staff":
        return {**admin_staff.field_labels(), "active": _("Active")}
    if target_kind == "bay":
        return {
            "name": _("Bay name"),
            "kind": _("Kind"),
            "capacity": _("Cars"),
            "in_service": _("In service"),
            "reason": _("Reason"),
            "position": _("Place"),
        }
    if target_kind == "shop":
        return {
            "name": _("Shop name"),
            "address": _("Address"),
            "hotline": _("Service hotline"),
            "timezone": _("Time zone"),
            "opening_hours": _("Opening hours"),
            "lounge": _("Lounge TV"),
            "retention_days": _("Keep customer data"),
            "comeback_days": _("Comebacks within"),
            "stage_labels": _("Stage labels"),
            "notify": _("Notifications"),
            "notify_providers": _("Providers"),
            "notify_credentials": _("Provider keys and passwords"),
        }
    if target_kind == "device":
        return {"name": pgettext("screen", "Name"), "role": _("Role")}
    return {"name": pgettext("token", "Name"), "role": _("Role")}


def _bay_kind_labels() -> dict[str, str]:
    return {
        "general": _("General repair"),
        "quick": _("Quick service"),
        "alignment": _("Wheel alignment"),
        "ev": _("EV / high voltage"),
        "paint": _("Paint"),
        "wash": _("Wash"),
        "parking_lane": _("Parking lane"),
    }


def _device_kind_labels() -> dict[str, str]:
    return {"board": _("Workshop board"), "lounge": _("Waiting lounge"), "kiosk": _("Kiosk")}


def _admin_value(name: str, value: Any, target_kind: str) -> str:
    """A recorded value as the reader says it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if name == "role":
        return {**admin_staff.role_labels(), **role_labels()}.get(str(value), str(value))
    if name == "qualifications" and isinstance(value, list):
        labels = admin_staff.qualification_labels()
        return ", ".join(labels.get(str(v), str(v)) for v in value) or "—"
    if name == "kind":
        labels = _bay_kind_labels() if target_kind == "bay" else _device_kind_labels()
        return labels.get(str(value), str(value))
    return str(value)


def _target(entry: audit.AuditEntry) -> str:
    """What an administration command concerned, in the page's language."""
    kind, _sep, ref = (entry.target or "").partition(":")
    name = str(entry.details.get("name") or ref)
    if kind == "staff":
        return str(_("Staff member %(name)s", name=name))
    if kind == "bay":
        return str(_("Bay %(bay)s", bay=ref))
    if kind == "token":
        return str(_("API token “%(name)s”", name=name))
    if kind == "device":
        return str(_("Screen “%(name)s”", name=name))
    if kind == "shop":
        return str(_("Shop profile"))
    return entry.target or ""


def _admin_summary(entry: audit.AuditEntry) -> str:
    """A line saying what an administration command set or changed (old →
    new; a setting made of several parts, such as the hours, by its name
    alone, the whole of it being in the export), in the page's language."""
    data = entry.details
    target_kind = (entry.target or "").partition(":")[0]
    labels = _admin_field_labels(target_kind)
    parts: list[str] = []
    if entry.type in ("staff_added", "bay_added", "token_created", "token_revoked"):
        parts += [
            f"{labels.get(name, name)}: {_admin_value(name, data[name], target_kind)}"
            for name in ("role", "badge", "kind", "capacity", "position")
            if data.get(name) not in (None, "")
        ]
    if entry.type in ("device_paired", "device_revoked", "device_renamed"):
        parts.append(_admin_value("kind", data.get("kind"), "device"))
    changes = data.get("changes")
    for name, change in changes.items() if isinstance(changes, dict) else ():
        name = str(name)
        label = labels.get(name, name)
        # A personal field is recorded without its values, a setting of
        # several parts (the hours, the labels) is named alone.
        if not isinstance(change, dict) or "new" not in change:
            parts.append(label)
            continue
        old, new = change.get("old"), change.get("new")
        if isinstance(old, dict) or isinstance(new, dict):
            parts.append(label)
            continue
        parts.append(
            _(
                "%(field)s: %(old)s → %(new)s",
                field=label,
                old=_admin_value(name, old, target_kind),
                new=_admin_value(name, new, target_kind),
            )
        )
    flags = {
        "pin_set": _("PIN set"),
        "pin_removed": _("PIN removed"),
        "password_reset": _("Password reset"),
        "unlocked": _("Unlocked"),
    }
    parts += [str(text) for flag, text in flags.items() if data.get(flag) and flag != entry.type]
    return " · ".join(str(part) for part in parts if part)


def _summary(entry: audit.AuditEntry) -> str:
    """A line saying what the event changed, in the page's language."""
    if entry.source == audit.ADMIN:
        return _admin_summary(entry)
    data = entry.details
    stages = stage_labels()
    if entry.type == "stage_changed":
        before, after = str(data.get("from_stage")), str(data.get("to_stage"))
        moved = _(
            "%(before)s → %(after)s",
            before=stages.get(before, before),
            after=stages.get(after, after),
        )
        pause = pause_labels().get(str(data.get("pause_reason") or ""), "")
        reason = str(data.get("reason") or "")
        return " · ".join(part for part in (moved, pause, reason) if part)
    if entry.type == "order_created":
        return stages.get(str(data.get("stage")), "")
    if entry.type == "assigned":
        return str(_("Bay %(bay)s", bay=data.get("bay") or "—"))
    if entry.type in ("check_passed", "check_failed"):
        level = data.get("level")
        level = check_level_labels().get(str(level), level) if level else level
        return " · ".join(str(p) for p in (level, data.get("reason")) if p)
    if entry.type in ("extra_work_quoted", "quote_revised", "parts_requested"):
        return str(data.get("description") or "")
    if entry.type == "extra_work_decided":
        return str(_("Approved") if data.get("approved") else _("Declined"))
    if entry.type == "pause_reason_added":
        reason = pause_labels().get(str(data.get("reason")), "")
        return " · ".join(p for p in (reason, str(data.get("note") or "")) if p)
    if entry.type == "promise_changed":
        return str(data.get("reason") or "")
    if entry.type == "comeback_flagged":
        return " · ".join(
            p for p in (f"#{data.get('of_number')}", str(data.get("note") or "")) if p
        )
    if entry.type == "comeback_unflagged":
        return str(data.get("reason") or "")
    if entry.type == "survey_submitted":
        return str(_("Rating %(rating)s", rating=data.get("rating")))
    return ""


def _filters() -> dict[str, str]:
    """The filters as given (to show them in the form and carry them on)."""
    keys = ("order_id", "actor", "day", "kind", "estimates")
    return {key: request.args[key] for key in keys if request.args.get(key)}


@blueprint.get("/admin/audit")
def audit_log() -> ResponseReturnValue:
    principal = signed_in_admin("/admin/audit")
    if isinstance(principal, BaseResponse):
        return principal
    zone = queries.shop_timezone(core(), principal.shop_id)
    status, error = 200, None
    page = audit.AuditPage([], None)
    try:
        page = audit.audit_page(core(), principal.shop_id, zone, rest.audit_query())
    except errors.ValidationFailed:
        status, error = 400, _("Check the filters: the order is a number, the day a date.")
    except errors.NotFound:
        status, error = 404, _("No such order or person in this shop.")
    filters = _filters()
    html = render_template(
        "kiosk/admin_audit.html",
        principal=principal,
        form=RevokeForm(),
        entries=page.entries,
        summaries={entry.key: _summary(entry) for entry in page.entries},
        targets={entry.key: _target(entry) for entry in page.entries},
        next_before=page.next_before,
        paged=bool(request.args.get("before")),
        filters=filters,
        people=audit.people(core(), principal.shop_id),
        events={**event_labels(), **admin_event_labels()},
        kinds=kind_labels(),
        vias=via_labels(),
        shop_timezone=zone,
        error=error,
    )
    return _no_store(html, status)


@blueprint.get("/admin/audit.csv")
def audit_export() -> ResponseReturnValue:
    principal = signed_in_admin("/admin/audit")
    if isinstance(principal, BaseResponse):
        return principal
    try:
        query = rest.audit_query(paged=False)
        day = query.day.isoformat() if query.day else "all"
        return rest.audit_csv(principal.shop_id, query, f"audit-{day}.csv")
    except errors.ValidationFailed:
        abort(400)
    except errors.NotFound:
        abort(404)
