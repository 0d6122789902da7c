"""Reception desk (/desk), printable job ticket and its QR code."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("desk", __name__, template_folder="templates")
