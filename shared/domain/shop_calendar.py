"""The shop's calendar: when work can happen, in working minutes on the shop's clock.

Every honest time the product shows (the running ETA, the promise at the desk,
the lounge's wait) is working time laid on this calendar: opening hours per
weekday, the daily breaks (lunch), China's statutory holidays (法定节假日) and
make-up working days (调休) from the maintained ``chinesecalendar`` package,
and the shop's own closed and open days, which win over everything else.

Pure: no clock reads and no I/O; every time comes in as an argument, and
every answer is an aware datetime in the shop's zone. Internally times are
whole microseconds since the epoch (exact, so a job that fills a working
stretch ends exactly at its end), and each day's working stretches are
computed once per calendar and remembered: a plan asks hundreds of times.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from shared.domain import errors

# The shop's hours when it has not said (the existing ``opening_hours`` default).
DEFAULT_OPEN = time(8, 30)
DEFAULT_CLOSE = time(18, 0)
DEFAULT_HOURS: tuple[time, time] = (DEFAULT_OPEN, DEFAULT_CLOSE)
# A 4S dealer is usually open every day of the week.
DEFAULT_WEEK: tuple[tuple[time, time] | None, ...] = (DEFAULT_HOURS,) * 7
# Hours given across midnight (close before open) are planned as open until
# this moment of the opening day: the small hours are not planned at all,
# which can only make a time later, never earlier, than the truth.
LAST_MINUTE = time(23, 59)
# How far ahead a calendar looks for working time before it gives up: a year
# and a few days, so even a shop closed all year but one day answers.
SEARCH_DAYS = 370
# Settings limits: a shop's lists of its own closed and open days.
MAX_OVERRIDE_DAYS = 1000

MICROSECONDS_PER_MINUTE = 60_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
_HOUR_TEXT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Hours = tuple[time, time]
Span = tuple[int, int]


class NoWorkingTime(errors.DomainError):
    """The calendar has no working time in the next ``SEARCH_DAYS`` days
    (every weekday closed, or a technician's shift outside the opening hours)."""

    code = "no_working_time"
    status = 409


def to_microseconds(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("The shop calendar needs timezone-aware datetimes.")
    return (moment - _EPOCH) // _ONE_MICROSECOND


def from_microseconds(microseconds: int, zone: ZoneInfo) -> datetime:
    """The moment ``microseconds`` after the epoch, on the shop's clock."""
    return (_EPOCH + timedelta(microseconds=microseconds)).astimezone(zone)


def _wall(day: date, moment: time, zone: ZoneInfo) -> int:
    """A wall-clock time of one local day as an instant. ZoneInfo resolves a
    time skipped or repeated by a daylight-saving change (its first reading)."""
    return to_microseconds(datetime.combine(day, moment, tzinfo=zone))


def _minus(segments: list[Hours], cut: Hours) -> list[Hours]:
    """Wall-clock segments with ``cut`` taken out."""
    kept: list[Hours] = []
    for start, end in segments:
        if cut[1] <= start or cut[0] >= end:
            kept.append((start, end))
            continue
        if start < cut[0]:
            kept.append((start, cut[0]))
        if cut[1] < end:
            kept.append((cut[1], end))
    return kept


def _daytime(hours: Hours) -> Hours:
    """Hours whose end is not after their start run across midnight: planned
    as open until ``LAST_MINUTE`` of the same day (see ``LAST_MINUTE``)."""
    start, end = hours
    return (start, end) if end > start else (start, LAST_MINUTE)


@dataclass(frozen=True)
class ShopCalendar:
    """When the shop works. Immutable and hashable; answers are cached per day.

    ``week`` is Monday..Sunday, ``None`` closed that weekday. ``breaks`` apply
    every open day. With ``public_holidays`` the statutory holidays are closed
    and make-up working days (a weekend day the State declares a workday) are
    open with the hours of the shop's first open weekday, even when its week
    closes that weekday (outside the package's years, 2004–2026 today, the
    week and the shop's own days alone decide). ``holidays`` closes a day;
    ``workdays`` opens one and wins over everything (hours of that weekday,
    or of the first open weekday when the week closes it)."""

    zone: ZoneInfo
    week: tuple[Hours | None, ...] = DEFAULT_WEEK
    breaks: tuple[Hours, ...] = ()
    public_holidays: bool = True
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    # One WorkingTime per shift, each remembering its days (not part of the value).
    _lanes: dict[Hours | None, WorkingTime] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise errors.ValidationFailed("week", "week needs 7 entries, Monday to Sunday.")
        for start, end in self.breaks:
            if not start < end:
                raise errors.ValidationFailed("breaks", "A break must end after it starts.")

    # ------------------------------------------------------------ settings

    @classmethod
    def from_settings(cls, timezone: str, settings: Mapping[str, Any]) -> ShopCalendar:
        """The calendar of a shop from its time zone and settings.

        ``opening_hours`` ({"open", "close"}, every day; absent: 08:30–18:00)
        is the existing setting; ``week`` (7 items of {"open", "close"} or
        null, Monday first) replaces it when given. ``breaks`` ([{"start",
        "end"}]), ``public_holidays`` (bool, default true), ``holidays`` and
        ``workdays`` (["YYYY-MM-DD"]). A close before the open means across
        midnight (planned until 23:59, see ``LAST_MINUTE``). Bad values raise
        ``ValidationFailed`` naming the setting."""
        zone = _zone(timezone)
        if not isinstance(settings, Mapping):
            raise errors.ValidationFailed("settings", "Shop settings must be an object.")
        every_day = DEFAULT_HOURS
        if settings.get("opening_hours") is not None:
            every_day = _hours("opening_hours", settings["opening_hours"], "open", "close")
        week: tuple[Hours | None, ...] = (_daytime(every_day),) * 7
        if settings.get("week") is not None:
            week = _week(settings["week"])
        breaks = _breaks(settings.get("breaks"))
        public = settings.get("public_holidays", True)
        if not isinstance(public, bool):
            raise errors.ValidationFailed(
                "public_holidays", "public_holidays must be true or false."
            )
        return cls(
            zone=zone,
            week=week,
            breaks=breaks,
            public_holidays=public,
            holidays=_days("holidays", settings.get("holidays")),
            workdays=_days("workdays", settings.get("workdays")),
        )

    # ------------------------------------------------------------ days

    def hours(self, day: date) -> Hours | None:
        """The opening hours of ``day`` (before breaks), or None when closed."""
        if day in self.workdays:
            return self.week[day.weekday()] or self._first_open_hours()
        if day in self.holidays:
            return None
        if self.public_holidays:
            statutory, make_up = _public_day(day)
            if statutory:
                return None
            if make_up:
                return self._first_open_hours()
        return self.week[day.weekday()]

    def _first_open_hours(self) -> Hours:
        return next((hours for hours in self.week if hours is not None), DEFAULT_HOURS)

    def is_open_day(self, day: date) -> bool:
        """Whether the shop opens on ``day`` at all."""
        return self.hours(day) is not None

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working stretches of ``day``: opening hours minus breaks, in order."""
        spans = self.working_time().spans(day.toordinal())
        return [
            (from_microseconds(s, self.zone), from_microseconds(e, self.zone)) for s, e in spans
        ]

    def working_time(self, shift: Hours | None = None) -> WorkingTime:
        """The calendar seen by someone working ``shift`` (None: the shop's hours)."""
        lane = self._lanes.get(shift)
        if lane is None:
            lane = self._lanes[shift] = WorkingTime(self, shift)
        return lane

    def day_spans(self, ordinal: int, shift: Hours | None) -> tuple[Span, ...]:
        """One day's working stretches in microseconds, within ``shift`` (uncached:
        ``WorkingTime.spans`` remembers them)."""
        day = date.fromordinal(ordinal)
        hours = self.hours(day)
        if hours is None:
            return ()
        segments = [_daytime(hours)]
        if shift is not None:
            start, end = _daytime(shift)
            segments = [(max(s, start), min(e, end)) for s, e in segments]
            segments = [(s, e) for s, e in segments if s < e]
        for cut in self.breaks:
            segments = _minus(segments, cut)
        spans = [(_wall(day, s, self.zone), _wall(day, e, self.zone)) for s, e in segments]
        return tuple(sorted((s, e) for s, e in spans if s < e))

    # ------------------------------------------------------------ arithmetic

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` itself when it is working time, else the next working moment."""
        return self._out(self.working_time().next_open(to_microseconds(moment)))

    def add_working(self, moment: datetime, minutes: float) -> datetime:
        """When ``minutes`` of work begun at ``moment`` end: the moment the last
        working minute ends (it may be a stretch's end, e.g. closing time; it
        is never strictly inside a break or closed time). No work at all
        (``minutes`` <= 0) ends at ``next_open(moment)``: nothing is handed
        over while the shop is closed."""
        return self._out(
            self.working_time().add(to_microseconds(moment), minutes_to_microseconds(minutes))
        )

    def working_minutes(self, start: datetime, end: datetime) -> float:
        """Working minutes between two moments (0 when ``end`` is not after ``start``)."""
        amount = self.working_time().between(to_microseconds(start), to_microseconds(end))
        return amount / MICROSECONDS_PER_MINUTE

    def _out(self, microseconds: int) -> datetime:
        return from_microseconds(microseconds, self.zone)


def minutes_to_microseconds(minutes: float) -> int:
    if not math.isfinite(minutes):
        raise ValueError("Working minutes must be a finite number.")
    return round(minutes * MICROSECONDS_PER_MINUTE)


class WorkingTime:
    """Working time of the calendar within one shift, on integer microseconds.

    The planner's inner loop: no datetimes, each day's stretches computed once.
    Stretches are half-open: a moment at a stretch's end is not working time,
    but work can end there."""

    __slots__ = ("_calendar", "_days", "_shift", "_zone")

    def __init__(self, calendar: ShopCalendar, shift: Hours | None) -> None:
        self._calendar = calendar
        self._shift = shift
        self._zone = calendar.zone
        self._days: dict[int, tuple[Span, ...]] = {}

    def spans(self, ordinal: int) -> tuple[Span, ...]:
        """The working stretches of the local day ``ordinal`` (``date.toordinal``)."""
        found = self._days.get(ordinal)
        if found is None:
            found = self._days[ordinal] = self._calendar.day_spans(ordinal, self._shift)
        return found

    def day_of(self, microseconds: int) -> int:
        """The local day (ordinal) of an instant."""
        return datetime.fromtimestamp(microseconds / 1_000_000, self._zone).toordinal()

    def next_open(self, at: int) -> int:
        """``at`` when it is working time, else the start of the next stretch."""
        day = self.day_of(at)
        for _ in range(SEARCH_DAYS + 1):
            for start, end in self.spans(day):
                if at < end:
                    return start if start > at else at
            day += 1
        raise NoWorkingTime(f"No working time in the {SEARCH_DAYS} days after this moment.")

    def add(self, at: int, amount: int) -> int:
        """When ``amount`` microseconds of work begun at ``at`` end."""
        if amount <= 0:
            return self.next_open(at)
        day = self.day_of(at)
        idle_days = 0
        while True:
            spans = self.spans(day)
            idle_days = idle_days + 1 if not spans else 0
            if idle_days > SEARCH_DAYS:
                raise NoWorkingTime(f"No working time in {SEARCH_DAYS} days in a row.")
            for start, end in spans:
                if end <= at:
                    continue
                begin = start if start > at else at
                available = end - begin
                if amount <= available:
                    return begin + amount
                amount -= available
            day += 1

    def between(self, start: int, end: int) -> int:
        """Working microseconds in [start, end)."""
        if end <= start:
            return 0
        total = 0
        last = self.day_of(end)
        day = self.day_of(start)
        while day <= last:
            for span_start, span_end in self.spans(day):
                low = span_start if span_start > start else start
                high = span_end if span_end < end else end
                if high > low:
                    total += high - low
            day += 1
        return total

    def stretch_end(self, at: int) -> int | None:
        """The end of the stretch ``at`` lies in or ends (None: closed time)."""
        for start, end in self.spans(self.day_of(at)):
            if start <= at <= end:
                return end
        return None


# ---------------------------------------------------------------- public days


def _public_day(day: date) -> tuple[bool, bool]:
    """(statutory holiday, make-up working day) for ``day``; both false outside
    the package's years, where the shop's own settings alone decide."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False, False
    statutory = bool(on_holiday) and name is not None
    make_up = not on_holiday and day.weekday() >= 5
    return statutory, make_up


# ---------------------------------------------------------------- parsing settings


def _zone(timezone: str) -> ZoneInfo:
    if not isinstance(timezone, str) or not timezone:
        raise errors.ValidationFailed(
            "timezone", "timezone must be a zone name like Asia/Shanghai."
        )
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.ValidationFailed("timezone", f"Unknown time zone {timezone!r}.") from None


def _time(setting: str, value: object) -> time:
    if not isinstance(value, str) or not _HOUR_TEXT.match(value.strip()):
        raise errors.ValidationFailed(setting, "Give the time as HH:MM (24-hour clock).")
    return time.fromisoformat(value.strip())


def _hours(setting: str, value: object, first: str, second: str) -> Hours:
    if not isinstance(value, Mapping):
        raise errors.ValidationFailed(setting, f"{setting} needs {first!r} and {second!r} times.")
    start, end = _time(setting, value.get(first)), _time(setting, value.get(second))
    if start == end:
        raise errors.ValidationFailed(setting, f"{setting}: {second} equals {first}.")
    return start, end


def _week(value: object) -> tuple[Hours | None, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 7:
        raise errors.ValidationFailed("week", "week needs 7 entries, Monday to Sunday.")
    week = tuple(
        None if item is None else _daytime(_hours("week", item, "open", "close")) for item in value
    )
    if all(hours is None for hours in week):
        raise errors.ValidationFailed("week", "The shop must open on at least one day of the week.")
    return week


def _breaks(value: object) -> tuple[Hours, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) > 10:
        raise errors.ValidationFailed(
            "breaks", "breaks must be a list of {start, end} (at most 10)."
        )
    breaks = []
    for item in value:
        start, end = _hours("breaks", item, "start", "end")
        if end < start:
            raise errors.ValidationFailed("breaks", "A break cannot run across midnight.")
        breaks.append((start, end))
    return tuple(sorted(breaks))


def _days(setting: str, value: object) -> frozenset[date]:
    if value is None:
        return frozenset()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise errors.ValidationFailed(setting, f"{setting} must be a list of YYYY-MM-DD dates.")
    if len(value) > MAX_OVERRIDE_DAYS:
        raise errors.ValidationFailed(setting, f"{setting}: at most {MAX_OVERRIDE_DAYS} dates.")
    days = set()
    for item in value:
        if not isinstance(item, str) or not _DATE_TEXT.match(item):
            raise errors.ValidationFailed(setting, f"{setting}: {item!r} is not a YYYY-MM-DD date.")
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            raise errors.ValidationFailed(
                setting, f"{setting}: {item} is not a real date."
            ) from None
    return frozenset(days)
