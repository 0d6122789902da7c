"""REST v1 administration: staff (issue 14, item 2): GET|POST /api/v1/staff,
PATCH /api/v1/staff/{id}.

Admin and manager only; views parse, authorise and call one service each."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

blueprint = Blueprint("api_staff", __name__, url_prefix="/api/v1")


def openapi_paths() -> dict[str, Any]:
    """This module's paths for the OpenAPI document (merged per path and method)."""
    return {}


def openapi_schemas() -> dict[str, Any]:
    return {}
