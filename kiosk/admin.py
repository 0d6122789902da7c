"""Web admin (/admin): approve pairing codes, name and revoke screens."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("admin", __name__, template_folder="templates")
