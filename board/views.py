"""Output screens: workshop wall board, waiting-lounge TV, customer page.
Views only render; live data arrives over Socket.IO."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from shared.web.labels import screen_strings

blueprint = Blueprint("board", __name__, template_folder="templates")


@blueprint.get("/board")
def board() -> ResponseReturnValue:
    return render_template("board/board.html", strings=screen_strings(), device_kind="board")


@blueprint.get("/lounge")
def lounge() -> ResponseReturnValue:
    return render_template("board/lounge.html", strings=screen_strings(), device_kind="lounge")
