"""Web admin, API tokens and the audit log (issue 14, items 6 and 7):
/admin/tokens, /admin/audit.

Only a signed-in admin or manager (session cookie) gets here; every form
carries the CSRF token (Flask-WTF); each action calls one service function."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("admin_tokens", __name__, template_folder="templates")
