"""The dealer group's pages (issue 14, item 5): every shop's live counts on
one page for a group manager, and shops with their first admin made by an
installation admin."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("group", __name__, template_folder="templates")
