"""REST v1 placeholder for comebacks: filled in by its own work."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("api_comebacks", __name__, url_prefix="/api/v1")
