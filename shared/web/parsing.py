"""Strict reading of request input: JSON bodies and query strings.

Every wrong type is a ``validation_error`` naming its field; nothing is
coerced silently. Three rules hold for every JSON endpoint, here in one place:

* Text: every string passes the domain's text rule (``shared.domain.text``).
  Lone surrogates are refused for the whole document as soon as it is parsed,
  keys included, so nothing downstream (the Idempotency fingerprint, an error
  message, the database) ever sees one; the other characters are checked by
  ``Body.string``, which knows whether the field is multi-line.
* Fields: a body may hold only the fields its view reads. ``Body`` remembers
  which keys its getters read, and ``finish`` refuses the first other one in
  document order, in nested objects and list items too (``customer.x``,
  ``items[0].x``). ``http_commands.command_request`` finishes the body, so a
  request becomes a command only once all of it was understood; a view reads
  every field before it asks for the command.
* Time: every timestamp goes through ``parse_timestamp``: ISO 8601 with a UTC
  offset, no further than ``TIME_WINDOW`` from the app's clock. A date near
  year 1 or 9999 would overflow ``datetime`` as soon as anything converts it
  to UTC or adds to it, and no workshop promises a car for a decade ahead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import request

from shared.domain.errors import Message, ValidationFailed
from shared.domain.text import check_text, has_lone_surrogate, printable_name
from shared.web.access import core

# Every integer the API stores or looks up must fit a signed 64-bit column;
# a larger one would reach the database driver and fail there (HTTP 500).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# How far from the app's clock a timestamp may lie, either way: five years.
TIME_WINDOW = timedelta(days=1827)
# UTC offsets are below 24 hours: the wall-clock bound that is safe to
# compare before the exact one.
_OFFSET_SLACK = timedelta(days=1)


def _refused(field: str, template: str) -> ValidationFailed:
    """A ``validation_error`` naming ``field``; ``%(field)s`` in the
    template is its name (the web layer says the rest in the reader's language)."""
    return ValidationFailed(field, Message(template, field=field))


def parse_timestamp(field: str, raw: str, now: datetime) -> datetime:
    """``raw`` as an aware datetime (its offset kept), or ``ValidationFailed``
    naming ``field``: not ISO 8601, no offset, or further than
    ``TIME_WINDOW`` from ``now``.

    The wall-clock time is compared first: converting ``9999-12-31T23:59:59-14:00``
    to UTC (which an exact comparison does) leaves datetime's range."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise _refused(field, "%(field)s is not ISO 8601.") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _refused(field, "%(field)s needs a UTC offset.")
    utc_now = now.astimezone(UTC)
    far = ValidationFailed(
        field,
        Message(
            "%(field)s must lie within %(days)s days (five years) of now (%(now)s).",
            field=field,
            days=TIME_WINDOW.days,
            now=utc_now.isoformat(timespec="seconds"),
        ),
    )
    wall = parsed.replace(tzinfo=None)
    naive_now = utc_now.replace(tzinfo=None)
    reach = TIME_WINDOW + _OFFSET_SLACK
    if not naive_now - reach <= wall <= naive_now + reach:
        raise far
    if abs(parsed - utc_now) > TIME_WINDOW:
        raise far
    return parsed


def parse_date(field: str, raw: str) -> date:
    """A calendar date (``2026-05-01``), or ``ValidationFailed`` naming ``field``."""
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _refused(field, "%(field)s is a date like 2026-05-01.") from None


def query_text(name: str, default: str | None = None) -> str | None:
    """A query-string parameter, held to the same text rule as body fields."""
    raw = request.args.get(name)
    if raw is None:
        return default
    return check_text(name, raw)


def query_number(name: str, *, required: bool = False) -> float:
    """A finite number from the query string (0 when absent and not required)."""
    raw = query_text(name)
    if raw is None or not raw.strip():
        if required:
            raise _refused(name, "%(field)s is required.")
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise _refused(name, "%(field)s must be a number.") from None
    if not math.isfinite(value):
        raise _refused(name, "%(field)s must be a number.")
    return value


def query_flag(name: str) -> bool:
    """``true`` or ``false`` (absent: false); anything else is refused."""
    raw = query_text(name)
    if raw is None or raw == "false":
        return False
    if raw == "true":
        return True
    raise _refused(name, "%(field)s is true or false.")


class Body:
    """A parsed JSON object with typed getters that name the field on error,
    and that remember which fields were read (see ``finish``)."""

    def __init__(self, data: dict[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix
        self._read: set[str] = set()
        self._children: dict[str, list[Body]] = {}
        self._finished = False

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def _get(self, key: str, required: bool) -> Any:
        if self._finished:
            # A programming error, not bad input: the view asked for its
            # command before reading this field, so the field was refused.
            raise RuntimeError(f"{self._name(key)} read after the body was finished")
        self._read.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                raise _refused(self._name(key), "%(field)s is required.")
            return None
        return self.data[key]

    def string(
        self, key: str, *, required: bool = False, default: str = "", multiline: bool = False
    ) -> str:
        """A text field under the domain's text rule; ``multiline`` fields
        (complaints, notes, reasons) may also hold line feeds and tabs."""
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise _refused(self._name(key), "%(field)s must be a string.")
        return check_text(self._name(key), value, multiline=multiline)

    def integer(self, key: str, *, required: bool = False) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        number = _whole(value)
        if number is None:
            raise _refused(self._name(key), "%(field)s must be an integer.")
        if not INT64_MIN <= number <= INT64_MAX:
            raise _refused(self._name(key), "%(field)s is out of range.")
        return number

    def required_integer(self, key: str) -> int:
        value = self.integer(key, required=True)
        assert value is not None
        return value

    def number(self, key: str, *, required: bool = False) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refused(self._name(key), "%(field)s must be a number.")
        try:
            number = float(value)
        except OverflowError:  # an integer literal beyond the float range
            number = math.inf
        if not math.isfinite(number):
            raise _refused(self._name(key), "%(field)s is out of range.")
        return number

    def boolean(self, key: str, *, required: bool = False, default: bool = False) -> bool:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise _refused(self._name(key), "%(field)s must be true or false.")
        return value

    def timestamp(self, key: str) -> datetime | None:
        """An instant with its UTC offset, near the app's clock (``parse_timestamp``)."""
        value = self.string(key)
        if not value:
            return None
        # The app's clock, which tests and the demo set through Core.clock.
        return parse_timestamp(self._name(key), value, core().now())

    def calendar_date(self, key: str) -> date:
        """A required calendar date (``parse_date``)."""
        return parse_date(self._name(key), self.string(key, required=True))

    def obj(self, key: str) -> Body:
        value = self._get(key, False)
        if value is None:
            child = Body({}, prefix=f"{self._name(key)}.")
        elif not isinstance(value, dict):
            raise _refused(self._name(key), "%(field)s must be an object.")
        else:
            child = Body(value, prefix=f"{self._name(key)}.")
        self._children[key] = [child]
        return child

    def objects(self, key: str) -> list[Body]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _refused(self._name(key), "%(field)s must be a list.")
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                name = f"{self._name(key)}[{index}]"
                raise _refused(name, "%(field)s must be an object.")
            out.append(Body(item, prefix=f"{self._name(key)}[{index}]."))
        self._children[key] = out
        return out

    def integers(self, key: str, *, required: bool = False) -> list[int]:
        value = self._get(key, required)
        if value is None:
            return []
        numbers = [_whole(v) for v in value] if isinstance(value, list) else [None]
        if not all(n is not None and INT64_MIN <= n <= INT64_MAX for n in numbers):
            raise _refused(self._name(key), "%(field)s must be a list of ids.")
        return [n for n in numbers if n is not None]

    def codes(self, key: str) -> list[str]:
        """A list of short codes (``["sms", "email"]``); absent is empty."""
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _refused(self._name(key), "%(field)s must be a list of strings.")
        if len(value) > 20:
            raise _refused(self._name(key), "%(field)s is out of range.")
        return [check_text(self._name(key), v) for v in value]

    def unread(self) -> str | None:
        """The first field, in document order, that no getter read, or None."""
        for key in self.data:
            if key not in self._read:
                return self._name(printable_name(key))
            for child in self._children.get(key, ()):
                found = child.unread()
                if found is not None:
                    return found
        return None

    def finish(self) -> None:
        """Refuse the body when it holds a field the view did not read: a
        misspelt or unsupported field is an error, not silently dropped.
        Reading a field afterwards is a programming error."""
        unknown = self.unread()
        if unknown is not None:
            raise _refused(unknown, "%(field)s is not a field of this request.")
        self._seal()

    def _seal(self) -> None:
        self._finished = True
        for children in self._children.values():
            for child in children:
                child._seal()


def _whole(value: Any) -> int | None:
    """``value`` as an integer when JSON says it is one: ``3`` and also
    ``3.0`` (JSON has one number type, and JSON Schema counts 3.0 as an
    integer), never ``true`` or ``3.5``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _paths(document: Any) -> Iterator[tuple[str, str]]:
    """Every string of a parsed JSON document, keys included, with the name
    of the field that holds it, in document order. Iterative: a document
    nested as deep as the parser allows must not exhaust the stack here."""
    stack: list[tuple[str, Any, bool]] = [("body", document, False)]
    while stack:
        path, value, is_key = stack.pop()
        if is_key or isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            items: list[tuple[str, Any, bool]] = []
            for key, item in value.items():
                name = printable_name(key) if path == "body" else f"{path}.{printable_name(key)}"
                items += [(name, key, True), (name, item, False)]
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend(
                reversed([(f"{path}[{index}]", item, False) for index, item in enumerate(value)])
            )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body() -> Body:
    """The request's JSON object, or a clear error for anything else. The
    view reads its fields and then finishes it (``Body.finish``), directly or
    through ``http_commands.command_request``."""
    if not request.is_json:
        raise ValidationFailed("body", "Send a JSON object with Content-Type: application/json.")
    raw = request.get_data(cache=True)
    try:
        # NaN and Infinity are Python's extension, not JSON (RFC 8259).
        data = json.loads(raw or b"null", parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("body", "The body is not valid JSON.") from None
    except RecursionError:
        raise ValidationFailed("body", "The body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise ValidationFailed("body", "The body must be a JSON object.")
    for path, text in _paths(data):
        if has_lone_surrogate(text):
            raise ValidationFailed(
                path,
                Message(
                    "%(field)s contains a lone surrogate (\\uD800–\\uDFFF): not Unicode text.",
                    field=path,
                ),
            )
    return Body(data)
