"""Strict reading of JSON request bodies: every wrong type is a
``validation_error`` naming its field; nothing is coerced silently."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import request

from shared.domain.errors import ValidationFailed

# Every integer the API stores or looks up must fit a signed 64-bit column;
# a larger one would reach the database driver and fail there (HTTP 500).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Body:
    """A parsed JSON object with typed getters that name the field on error."""

    def __init__(self, data: dict[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise ValidationFailed(self._name(key), f"{self._name(key)} is required.")
            return None
        return self.data[key]

    def string(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ValidationFailed(self._name(key), f"{self._name(key)} must be a string.")
        return value

    def integer(self, key: str, *, required: bool = False) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed(self._name(key), f"{self._name(key)} must be an integer.")
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValidationFailed(self._name(key), f"{self._name(key)} is out of range.")
        return value

    def required_integer(self, key: str) -> int:
        value = self.integer(key, required=True)
        assert value is not None
        return value

    def number(self, key: str, *, required: bool = False) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationFailed(self._name(key), f"{self._name(key)} must be a number.")
        return float(value)

    def boolean(self, key: str, *, required: bool = False, default: bool = False) -> bool:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ValidationFailed(self._name(key), f"{self._name(key)} must be true or false.")
        return value

    def timestamp(self, key: str) -> datetime | None:
        value = self.string(key)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationFailed(self._name(key), f"{self._name(key)} is not ISO 8601.") from None
        if parsed.tzinfo is None:
            raise ValidationFailed(self._name(key), f"{self._name(key)} needs a UTC offset.")
        return parsed

    def obj(self, key: str) -> Body:
        value = self._get(key, False)
        if value is None:
            return Body({}, prefix=f"{self._name(key)}.")
        if not isinstance(value, dict):
            raise ValidationFailed(self._name(key), f"{self._name(key)} must be an object.")
        return Body(value, prefix=f"{self._name(key)}.")

    def objects(self, key: str) -> list[Body]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValidationFailed(self._name(key), f"{self._name(key)} must be a list.")
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise ValidationFailed(f"{self._name(key)}[{index}]", "must be an object.")
            out.append(Body(item, prefix=f"{self._name(key)}[{index}]."))
        return out

    def integers(self, key: str, *, required: bool = False) -> list[int]:
        value = self._get(key, required)
        if value is None:
            return []
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and INT64_MIN <= v <= INT64_MAX
            for v in value
        ):
            raise ValidationFailed(self._name(key), f"{self._name(key)} must be a list of ids.")
        return list(value)


def json_body() -> Body:
    """The request's JSON object, or a clear error for anything else."""
    if not request.is_json:
        raise ValidationFailed("body", "Send a JSON object with Content-Type: application/json.")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("body", "The body is not valid JSON.") from None
    except RecursionError:
        raise ValidationFailed("body", "The body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise ValidationFailed("body", "The body must be a JSON object.")
    return Body(data)
