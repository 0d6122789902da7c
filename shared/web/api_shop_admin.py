"""REST v1 administration: bays and the shop profile (issue 14, items 3 and 4):
GET|POST /api/v1/bays (GET is in api.py), PATCH /api/v1/bays/{code},
GET|PATCH /api/v1/shop.

Admin and manager only; views parse, authorise and call one service each."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

blueprint = Blueprint("api_shop_admin", __name__, url_prefix="/api/v1")


def openapi_paths() -> dict[str, Any]:
    """This module's paths for the OpenAPI document (merged per path and method)."""
    return {}


def openapi_schemas() -> dict[str, Any]:
    return {}
