"""Web admin, bays, the shop profile and stage labels (issue 14, items 3 and
4): /admin/bays, /admin/shop.

Only a signed-in admin or manager (session cookie) gets here; every form
carries the CSRF token (Flask-WTF); each action calls one service function."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("admin_shop", __name__, template_folder="templates")
