"""Staff sign-in with a session cookie (Flask-Login), for the staff pages.

Office staff sign in with shop, name and password at /login (CSRF-protected
form). The shop: when the installation has more than one, the page shows a
picker (the last shop chosen on this browser preselected), and
``/login?shop=SLUG`` is a shop's own sign-in link (the picker hidden). Names
are unique per shop only, so two shops' "Adv" each sign in to their own
account. The cookie names a server-side session row
(shared/services/staff_login.py), so logout and deactivation end it
everywhere. A user whose password an admin reset is sent to
/login/password first and can open nothing else until they chose their own.
Wrong passwords are braked per account (shop and name) there (in the
database) and per client address here (Flask-Limiter). The kiosk's PIN
sign-in has its own credentials (shared/services/kiosk_login.py); the
foreman's console and the other staff pages use this session.
"""

from __future__ import annotations

import ipaddress
import math
import unicodedata
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from flask_login import LoginManager, UserMixin, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from shared.domain.errors import DomainError, Forbidden, NotFound
from shared.domain.policy import Command, may
from shared.services import staff_login
from shared.services.auth import Principal
from shared.services.core import Core
from shared.web.extensions import limiter
from shared.web.form_text import StoredText
from shared.web.problems import PROBLEM_TYPE, problem, seconds_to_reset

login_manager = LoginManager()
blueprint = Blueprint("staff_session", __name__)

# Flask-Login keeps "the user's id" under this key; the id it is given is the
# session's credential, so the cookie names a session row, never a user.
SESSION_KEY = "_user_id"
# Wrong passwords from one address, whatever the names: one person trying
# many names is slowed, then stopped for the hour (the per-name brake alone
# would let them try a few on every name).
ADDRESS_LIMITS = "10 per 10 minutes;30 per hour"
NEXT_LENGTH = 2000
# The shop last chosen on this browser, preselected next time (a desk PC
# serves one shop).
SHOP_COOKIE = "baylight_shop"
SHOP_COOKIE_AGE = 365 * 24 * 3600


class SignInRequired(DomainError):
    code = "unauthorized"
    status = 401


def _core() -> Core:
    return cast(Core, current_app.extensions["baylight"])


class SessionUser(UserMixin):
    """What Flask-Login keeps: the session's credential; the row is re-read per request."""

    def __init__(self, credential: str) -> None:
        self.id = credential


@login_manager.user_loader
def _load(credential: str) -> SessionUser | None:
    return SessionUser(credential) if staff_login.resolve(_core(), credential) else None


def principal_from_session(core: Core, session: Mapping[str, Any]) -> Principal | None:
    """The signed-in staff member of this cookie session: only while its
    server-side session is live and the user active. One indexed query and no
    write, so a socket's copy of the session can be re-checked at any time."""
    return staff_login.resolve(core, session.get(SESSION_KEY))


def local_path(target: str) -> str | None:
    """``target`` as a path on this site, or None.

    Browsers forgive a lot before they parse a URL: they drop tabs and
    newlines, read a backslash as a slash and skip leading control characters
    and spaces, so ``/<tab>/evil.example`` or ``/\\evil.example`` leaves the
    site. Any such character refuses the target outright; what is left must
    parse with neither scheme nor host, be a path from the site's root
    (``//`` would name a host) and read back exactly as it was written.
    """
    if not target or len(target) > NEXT_LENGTH:
        return None
    if any(
        char == "\\" or char.isspace() or unicodedata.category(char).startswith("C")
        for char in target
    ):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    if not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    # What was checked must be exactly what is sent: urlsplit reads "///x" as
    # the path "/x", where a browser reads the host "x".
    if urlunsplit(parts) != target:
        return None
    return target


class LoginForm(FlaskForm):
    shop = StringField("shop", validators=[Optional(), Length(max=40), StoredText()])
    name = StringField("name", validators=[DataRequired(), Length(max=100), StoredText()])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200), StoredText()])


class NewPasswordForm(FlaskForm):
    """The password a user chooses after an admin reset theirs, typed twice."""

    password = PasswordField("password", validators=[DataRequired(), Length(max=200), StoredText()])
    repeat = PasswordField("repeat", validators=[DataRequired(), Length(max=200), StoredText()])


def _next() -> str:
    return local_path(request.args.get("next", "")) or ""


def _shop_choice(shops: list[tuple[str, str]]) -> tuple[str | None, bool]:
    """The shop this sign-in is for, and whether the link fixed it
    (``?shop=SLUG``); else the form's choice, else this browser's last."""
    slugs = {slug for slug, _name in shops}
    linked = request.args.get("shop", "")
    if linked in slugs:
        return linked, True
    chosen = request.form.get("shop", "") or request.cookies.get(SHOP_COOKIE, "")
    return (chosen if chosen in slugs else None), False


def _login_page(
    form: FlaskForm, error: str = "", status: int = 200, *, mode: str = "sign_in"
) -> Response:
    """The sign-in page (or, ``mode="change"``, the page where a user
    chooses a new password), with the shop picker when there are shops to
    choose from."""
    shops = staff_login.shops(_core())
    chosen, fixed = _shop_choice(shops)
    page = render_template(
        "login.html",
        form=form,
        error=error,
        mode=mode,
        shops=shops if len(shops) > 1 else [],
        chosen=chosen,
        fixed_shop=dict(shops).get(chosen or "") if fixed else None,
        next=_next(),
    )
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _wants_json() -> bool:
    return request.accept_mimetypes.best in ("application/json", PROBLEM_TYPE)


def _address_key() -> str:
    """Per client address; an IPv6 /64 is one address (one subscriber has
    the whole prefix to hop through)."""
    address = request.remote_addr or "?"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "login-address:" + address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is None:
            return "login-address:" + str(ipaddress.IPv6Network((parsed, 64), strict=False))
        parsed = parsed.ipv4_mapped
    return f"login-address:{parsed}"


def _wrong_password(response: Response) -> bool:
    return bool(response.status_code == 401)


def _name_waiting() -> bool:
    """A name that is waiting is refused without a password check, with its
    own wait: it does not spend the address's budget (nor get its headers)."""
    shop = request.form.get("shop", "") or None
    return staff_login.waiting(_core(), request.form.get("name", ""), shop) is not None


def _wait_message(seconds: int) -> str:
    if seconds < 120:
        return str(_("Too many tries. Wait %(seconds)s s.", seconds=seconds))
    return str(_("Too many tries. Wait %(minutes)s min.", minutes=math.ceil(seconds / 60)))


def _too_many(seconds: int) -> Response:
    """429 with Retry-After: problem+json for a client asking for JSON, else
    the form again with the wait in the reader's language."""
    if _wants_json():
        response = problem(
            429,
            "rate_limited",
            "Too many requests",
            "Too many wrong passwords; wait before trying again.",
            retry_after=seconds,
        )
    else:
        response = _login_page(LoginForm(), _wait_message(seconds), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


def _address_limited(limit: RequestLimit) -> Response:
    return _too_many(seconds_to_reset(limit))


def _refused(form: LoginForm) -> ResponseReturnValue:
    if _wants_json():
        return problem(401, "unauthorized", "Unauthorized", _("Wrong name or password."))
    if len(staff_login.shops(_core())) > 1:
        # Also what a name held in two shops answers when no shop was chosen.
        return _login_page(form, _("Wrong name, password or shop."), 401)
    return _login_page(form, _("Wrong name or password."), 401)


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(
    ADDRESS_LIMITS,
    key_func=_address_key,
    methods=["POST"],
    deduct_when=_wrong_password,
    exempt_when=_name_waiting,
    on_breach=_address_limited,
)
def login() -> ResponseReturnValue:
    if staff_login.resolve_pending(_core(), session.get(SESSION_KEY)) is not None:
        return redirect(url_for("staff_session.change_password", next=_next() or None))
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form)
    shop, _fixed = _shop_choice(staff_login.shops(_core()))
    try:
        signed_in = staff_login.sign_in(
            _core(), form.name.data or "", form.password.data or "", shop
        )
    except staff_login.LoginThrottled as throttled:
        return _too_many(throttled.retry_after)
    except staff_login.WrongPassword:
        return _refused(form)
    # A fresh cookie: nothing from before sign-in (such as a CSRF token
    # someone planted) carries over into the signed-in session.
    session.clear()
    login_user(SessionUser(signed_in.credential))
    if signed_in.must_change_password:
        target = url_for("staff_session.change_password", next=_next() or None)
    else:
        target = _next() or url_for("board.board")
    response = redirect(target)
    if shop:
        response.set_cookie(
            SHOP_COOKIE, shop, max_age=SHOP_COOKIE_AGE, httponly=True, samesite="Lax"
        )
    return response


def _new_password_refused(refused: DomainError) -> str:
    reason = refused.extra.get("reason")
    if reason == "same_password":
        return str(_("Choose a password other than the one you were given."))
    return str(
        _(
            "A password has %(low)s to %(high)s characters.",
            low=staff_login.PASSWORD_MIN,
            high=staff_login.PASSWORD_MAX,
        )
    )


@blueprint.route("/login/password", methods=["GET", "POST"])
def change_password() -> ResponseReturnValue:
    """After an admin reset their password, the user chooses their own here
    before anything else opens; then a fresh session (every older one,
    this browser's included, ended with the reset password)."""
    credential = session.get(SESSION_KEY)
    if staff_login.resolve_pending(_core(), credential) is None:
        if staff_login.resolve(_core(), credential) is not None:
            return redirect(_next() or url_for("board.board"))
        return redirect(url_for("staff_session.login", next=_next() or None))
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return _login_page(form, mode="change")
    if form.password.data != form.repeat.data:
        return _login_page(form, _("The two passwords differ."), 422, mode="change")
    try:
        fresh = staff_login.change_password(_core(), credential, form.password.data or "")
    except staff_login.WrongPassword:
        session.clear()
        return redirect(url_for("staff_session.login", next=_next() or None))
    except DomainError as refused:
        return _login_page(form, _new_password_refused(refused), 422, mode="change")
    session.clear()
    login_user(SessionUser(fresh))
    return redirect(_next() or url_for("board.board"))


@blueprint.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    """Revokes the session row: a copy of the cookie kept from before is dead too."""
    staff_login.sign_out(_core(), session.get(SESSION_KEY))
    logout_user()
    session.clear()
    return redirect(url_for("staff_session.login"))


def _admin() -> Principal:
    principal = principal_from_session(_core(), session)
    if principal is None:
        raise SignInRequired("Sign in as admin or manager at /login.")
    if not may(principal, Command.ADMINISTER):
        raise Forbidden(f"The role {principal.role} may not do this.")
    return principal


@blueprint.get("/login/locks")
def login_locks() -> ResponseReturnValue:
    """The shop's staff whose name is locked after wrong passwords."""
    principal = _admin()
    return jsonify({"locked": staff_login.locked_accounts(_core(), principal.shop_id)})


@blueprint.post("/login/locks/<int:user_id>/unlock")
def unlock_login(user_id: int) -> ResponseReturnValue:
    """An admin lets a colleague try again before the lock ends by itself.
    CSRF-checked by CSRFProtect (X-CSRFToken header), like every cookie mutation."""
    principal = _admin()
    if not staff_login.unlock(_core(), principal.shop_id, user_id):
        raise NotFound(f"User {user_id} has no wrong passwords to forget.")
    return jsonify({"user_id": user_id, "unlocked": True})
