"""Web admin, staff (issue 14, item 2): /admin/staff.

Only a signed-in admin or manager (session cookie) gets here; every form
carries the CSRF token (Flask-WTF); each action calls one service function."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("admin_staff", __name__, template_folder="templates")
