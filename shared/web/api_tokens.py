"""REST v1 administration: API tokens and the audit log (issue 14, items 6 and
7): GET /api/v1/tokens, DELETE /api/v1/tokens/{id}, GET /api/v1/audit.

Admin and manager only; views parse, authorise and call one service each."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

blueprint = Blueprint("api_tokens", __name__, url_prefix="/api/v1")


def openapi_paths() -> dict[str, Any]:
    """This module's paths for the OpenAPI document (merged per path and method)."""
    return {}


def openapi_schemas() -> dict[str, Any]:
    return {}
