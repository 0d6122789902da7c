"""Input screens: technician kiosk, foreman console, reception desk."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from shared.web.labels import screen_strings

blueprint = Blueprint("kiosk", __name__, template_folder="templates")


@blueprint.get("/kiosk")
def kiosk() -> ResponseReturnValue:
    return render_template("kiosk/kiosk.html", strings=screen_strings(), device_kind="kiosk")
