"""The first run without a terminal (issue 14, item 1): the one-time set-up
page that creates the shop and its first admin."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("first_run", __name__, template_folder="templates")
