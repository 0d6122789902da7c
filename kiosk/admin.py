"""Web admin (/admin): approve pairing codes, list the screens (online now,
last seen on the shop's clock, a kiosk by its technicians' activity), rename
and revoke them (after a confirmation page, which works without JavaScript).
A screen is named by its kind and name, never by its row id. The opening
hours are the shop profile's (/admin/shop, ``kiosk/admin_shop.py``), which
tells every screen.

Only a signed-in admin or manager (session cookie) gets here; every form
carries the CSRF token (Flask-WTF). Wrong pairing codes are rate-limited per
admin and per address: the code space is small enough (20^8) to be safe only
when nobody can try codes quickly.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import StringField
from wtforms.validators import AnyOf, DataRequired, Length

from shared.domain import errors
from shared.domain.policy import Command, may
from shared.realtime.hub import Hub
from shared.services import devices, queries
from shared.services.auth import Principal
from shared.web import problem_text
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


class RenameForm(FlaskForm):
    name = StringField("name", validators=[DataRequired(), Length(max=100), StoredText()])


def signed_in_admin(page: str = "/admin") -> Principal | BaseResponse:
    """The signed-in admin or manager, or the way to sign in (and back to
    ``page``). A bearer token is no session: these pages are for people."""
    principal = current_principal()
    if principal is None or principal.kind != "user":
        return redirect("/login?next=" + quote(page))
    if not may(principal, Command.ADMINISTER):
        abort(403)
    return principal


def _presence(shop_id: int) -> devices.Presence | None:
    """What this process's hub knows of the shop's connected screens."""
    hub = current_app.extensions.get("baylight.hub")
    return hub.presence(shop_id) if isinstance(hub, Hub) else None


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
    presence = _presence(principal.shop_id)
    page = render_template(
        "kiosk/admin.html",
        # Once a code is approved the form starts empty for the next screen.
        pair_form=PairForm(formdata=None) if "notice" in messages else PairForm(),
        revoke_form=RevokeForm(),
        rename_form=RenameForm(formdata=None),
        devices=devices.list_devices(core(), principal.shop_id, presence),
        online_by_heartbeat=presence is not None and not presence.whole,
        online_within_minutes=devices.ONLINE_WITHIN.total_seconds() / 60,
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
    principal = signed_in_admin()
    if isinstance(principal, BaseResponse):
        return principal
    return _page(principal)


@blueprint.post("/admin/pair")
@limiter.limit(WRONG_CODE_LIMIT, key_func=_user_key, deduct_when=_wrong_code)
@limiter.limit(WRONG_CODE_LIMIT, key_func=_address_key, deduct_when=_wrong_code)
def pair() -> ResponseReturnValue:
    principal = signed_in_admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = PairForm()
    if not form.validate_on_submit():
        return _page(principal, 400, error=_("Give the code, the kind and a name."))
    try:
        devices.approve_pairing(
            core(),
            form.code.data or "",
            kind=form.kind.data or "",
            name=form.name.data or "",
            shop_id=principal.shop_id,
            actor=principal.actor(),
        )
    except errors.NotFound:
        return _page(
            principal,
            WRONG_CODE_STATUS,
            error=_("No screen is waiting with that code (or it expired)."),
        )
    except errors.ValidationFailed as refused:
        return _page(principal, 400, error=problem_text.error_text(refused)[1])
    # Named as the list names it (kind and name), never by its row id.
    kind = form.kind.data or ""
    return _page(
        principal,
        notice=_(
            "Paired: %(kind)s “%(name)s”.",
            kind=_kind_labels().get(kind, kind),
            name=(form.name.data or "").strip(),
        ),
    )


def _device(principal: Principal, device_id: int) -> dict[str, object]:
    """One screen of the admin's shop; another shop's is as unknown (404)."""
    for device in devices.list_devices(core(), principal.shop_id):
        if device["id"] == device_id:
            return device
    abort(404)


@blueprint.get("/admin/devices/<int:device_id>/revoke")
def confirm_revoke(device_id: int) -> ResponseReturnValue:
    """The confirmation step: what will stop, and the button that does it."""
    principal = signed_in_admin()
    if isinstance(principal, BaseResponse):
        return principal
    device = _device(principal, device_id)
    page = render_template(
        "kiosk/admin_confirm_revoke.html",
        principal=principal,
        form=RevokeForm(),
        admin_tab="screens",
        title=_("Revoke screen “%(name)s”?", name=device["name"]),
        consequence=_(
            "The screen goes back to its pairing code at once and shows nothing of the shop "
            "until an admin approves a new pairing. This cannot be undone."
        ),
        action=url_for("admin.revoke", device_id=device_id),
        back="/admin",
    )
    response = Response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/admin/devices/<int:device_id>/rename")
def rename(device_id: int) -> ResponseReturnValue:
    principal = signed_in_admin()
    if isinstance(principal, BaseResponse):
        return principal
    form = RenameForm()
    if not form.validate_on_submit():
        return _page(principal, 400, error=_("Give the screen a name (where it hangs)."))
    try:
        devices.rename_device(
            core(),
            device_id,
            form.name.data or "",
            shop_id=principal.shop_id,
            actor=principal.actor(),
        )
    except errors.NotFound:
        abort(404)
    except errors.ValidationFailed:
        return _page(principal, 400, error=_("Give the screen a name (where it hangs)."))
    return redirect("/admin", code=303)


@blueprint.post("/admin/devices/<int:device_id>/revoke")
def revoke(device_id: int) -> ResponseReturnValue:
    principal = signed_in_admin()
    if isinstance(principal, BaseResponse):
        return principal
    if not RevokeForm().validate_on_submit():
        abort(400)
    # Its open sockets are cut by every worker's hub (shared/realtime/hub.py):
    # in this process at once, in the others within their next round.
    try:
        devices.revoke_device(core(), device_id, shop_id=principal.shop_id, actor=principal.actor())
    except errors.NotFound:
        abort(404)
    return redirect("/admin", code=303)
