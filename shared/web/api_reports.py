"""REST v1 placeholder for reports: filled in by its own work."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("api_reports", __name__, url_prefix="/api/v1")
