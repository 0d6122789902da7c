"""The customer's own page (/t/{token}), opened from the QR on the ticket."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("customer", __name__, template_folder="templates")
