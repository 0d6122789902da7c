"""Staff sign-in with a session cookie (Flask-Login), for the staff pages.

Office staff sign in with name and password at /login (CSRF-protected form,
attempts rate-limited). Kiosk PIN login builds on the same session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from shared.persistence.models import StaffUser
from shared.services.auth import Principal, user_principal
from shared.services.core import Core

login_manager = LoginManager()
blueprint = Blueprint("staff_session", __name__)


class SessionUser(UserMixin):
    """What Flask-Login keeps: only the id; the row is re-read per request."""

    def __init__(self, user_id: int) -> None:
        self.id = user_id


@login_manager.user_loader
def _load(user_id: str) -> SessionUser | None:
    return SessionUser(int(user_id)) if user_id.isdigit() else None


def principal_from_session(core: Core, session: Mapping[str, Any]) -> Principal | None:
    """The signed-in staff member of this cookie session, if still active."""
    raw = session.get("_user_id")
    if not isinstance(raw, str) or not raw.isdigit():
        return None
    with core.db.read() as db:
        user = db.get(StaffUser, int(raw))
        if user is None or not user.active:
            return None
        return user_principal(user)


class LoginForm(FlaskForm):  # type: ignore[misc]
    name = StringField("name", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    error = ""
    if form.validate_on_submit():
        core = cast(Core, current_app.extensions["baylight"])
        with core.db.read() as db:
            user = (
                db.execute(
                    select(StaffUser).where(StaffUser.name == form.name.data, StaffUser.active)
                )
                .scalars()
                .first()
            )
            ok = bool(
                user
                and user.password_hash
                and check_password_hash(user.password_hash, form.password.data or "")
            )
            user_id = user.id if user else None
        if ok and user_id is not None:
            login_user(SessionUser(user_id))
            target = request.args.get("next", "")
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("board.board")
            return redirect(target)
        error = _("Wrong name or password.")
    return render_template("login.html", form=form, error=error), 200 if not error else 401


@blueprint.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    logout_user()
    return redirect(url_for("staff_session.login"))
