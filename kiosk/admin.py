"""Web admin (/admin): approve pairing codes, name and revoke screens, set the
opening hours the lounge TV follows.

Only a signed-in admin or manager (session cookie) gets here; every form
carries the CSRF token (Flask-WTF). Wrong pairing codes are rate-limited per
admin and per address: the code space is small enough (20^8) to be safe only
when nobody can try codes quickly.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import StringField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from shared.domain import errors
from shared.domain.policy import Command, may
from shared.services import devices, queries, shop_settings
from shared.services.auth import Principal
from shared.web.access import core, current_principal
from shared.web.app import limiter
from shared.web.form_text import StoredText

blueprint = Blueprint("admin", __name__, template_folder="templates")

# Wrong codes only count (deduct_when); the sixth within the window is refused.
WRONG_CODE_LIMIT = "5 per 15 minutes"
WRONG_CODE_STATUS = 404


class PairForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(max=20), StoredText()])
    # A plain field checked against the kinds: the page renders its own <select>.
    kind = StringField(
        "kind", validators=[DataRequired(), StoredText(), AnyOf(devices.DEVICE_KINDS)]
    )
    name = StringField("name", validators=[DataRequired(), Length(max=100), StoredText()])


class RevokeForm(FlaskForm):
    """No fields: the CSRF token is the point."""


class HoursForm(FlaskForm):
    opening = StringField("opening", validators=[Optional(), Length(max=5), StoredText()])
    closing = StringField("closing", validators=[Optional(), Length(max=5), StoredText()])


def _admin() -> Principal | BaseResponse:
    """The signed-in admin or manager, or the way to sign in."""
    principal = current_principal()
    if principal is None or principal.kind != "user":
        return redirect("/login?next=" + quote("/admin"))
    if not may(principal, Command.ADMINISTER):
        abort(403)
    return principal


def _user_key() -> str:
    principal = current_principal()
    return f"admin-pair:user:{principal.user_id if principal else '-'}"


def _address_key() -> str:
    return f"admin-pair:ip:{request.remote_addr or '?'}"


def _wrong_code(response: Response) -> bool:
    return response.status_code == WRONG_CODE_STATUS


def _kind_labels() -> dict[str, str]:
    return {"board": _("Workshop board"), "lounge": _("Waiting lounge"), "kiosk": _("Kiosk")}


def _status_labels() -> dict[str, str]:
    return {
        "active": _("Active"),
        "approved": _("Approved, not yet connected"),
        "revoked": _("Revoked"),
        "pending": _("Waiting"),
        "expired": _("Expired"),
        "denied": _("Denied"),
    }


def _page(principal: Principal, status: int = 200, **messages: str) -> ResponseReturnValue:
    hours = shop_settings.opening_hours(core(), principal.shop_id) or {}
    hours_form = HoursForm(
        formdata=None, opening=hours.get("open", ""), closing=hours.get("close", "")
    )
    page = render_template(
        "kiosk/admin.html",
        pair_form=PairForm(),
        revoke_form=RevokeForm(),
        hours_form=hours_form,
        devices=devices.list_devices(core(), principal.shop_id),
        kinds=_kind_labels(),
        statuses=_status_labels(),
        principal=principal,
        shop_timezone=queries.shop_timezone(core(), principal.shop_id),
        **messages,
    )
    response = Response(page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/admin")
def admin() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    return _page(principal)


@blueprint.post("/admin/pair")
@limiter.limit(WRONG_CODE_LIMIT, key_func=_user_key, deduct_when=_wrong_code)
@limiter.limit(WRONG_CODE_LIMIT, key_func=_address_key, deduct_when=_wrong_code)
def pair() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = PairForm()
    if not form.validate_on_submit():
        return _page(principal, 400, error=_("Give the code, the kind and a name."))
    try:
        device_id = devices.approve_pairing(
            core(),
            form.code.data or "",
            kind=form.kind.data or "",
            name=form.name.data or "",
            shop_id=principal.shop_id,
        )
    except errors.NotFound:
        return _page(
            principal,
            WRONG_CODE_STATUS,
            error=_("No screen is waiting with that code (or it expired)."),
        )
    except errors.ValidationFailed as refused:
        return _page(principal, 400, error=refused.detail)
    return _page(principal, notice=_("Paired: screen %(id)s.", id=device_id))


@blueprint.post("/admin/devices/<int:device_id>/revoke")
def revoke(device_id: int) -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    if not RevokeForm().validate_on_submit():
        abort(400)
    # Its open sockets are cut by every worker's hub (shared/realtime/hub.py):
    # in this process at once, in the others within their next round.
    try:
        devices.revoke_device(core(), device_id, shop_id=principal.shop_id)
    except errors.NotFound:
        abort(404)
    return redirect("/admin", code=303)


@blueprint.post("/admin/hours")
def hours() -> ResponseReturnValue:
    principal = _admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = HoursForm()
    if not form.validate_on_submit():
        return _page(principal, 400, error=_("Give the times as HH:MM."))
    try:
        shop_settings.set_opening_hours(
            core(), principal.shop_id, form.opening.data or None, form.closing.data or None
        )
    except errors.ValidationFailed as refused:
        return _page(principal, 400, error=refused.detail)
    return _page(principal, notice=_("Opening hours saved."))
