"""REST v1 placeholder for comebacks: filled in by its own work."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

blueprint = Blueprint("api_comebacks", __name__, url_prefix="/api/v1")


def openapi_paths() -> dict[str, Any]:
    """This module's part of the OpenAPI document (shared/web/openapi.py merges it)."""
    return {}


def openapi_schemas() -> dict[str, Any]:
    """The component schemas this module's paths refer to."""
    return {}
