"""Technicians' leave days (issue 18): a day a member of staff is away
brings none of their hours to that day's appointment capacity.

An admin sets them with the rest of the staff member (PATCH
/api/v1/staff/{id} ``leave``: the list of ISO dates replaces the future
ones; the past stays as it was, a record of who was away)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.persistence.appointment_models import StaffLeave
from shared.persistence.models import Shop

MAX_DAYS = 366
MAX_AHEAD = timedelta(days=2 * 366)


def check_leave(values: Sequence[str]) -> tuple[date, ...]:
    """ISO dates, each at most once (sorted); ``MAX_DAYS`` at most."""
    if len(values) > MAX_DAYS:
        raise errors.ValidationFailed(
            "leave", errors.Message("At most %(limit)s leave days.", limit=MAX_DAYS)
        )
    found: set[date] = set()
    for value in values:
        try:
            found.add(date.fromisoformat(value))
        except (TypeError, ValueError):
            raise errors.ValidationFailed(
                "leave",
                errors.Message("%(field)s is a list of dates like 2026-05-01.", field="leave"),
            ) from None
    return tuple(sorted(found))


def shop_today(session: Session, shop_id: int, now: datetime) -> date:
    shop = session.get(Shop, shop_id)
    zone = ZoneInfo(shop.timezone if shop is not None else "Asia/Shanghai")
    return now.astimezone(zone).date()


def future_leave(session: Session, shop_id: int, today: date) -> dict[int, list[str]]:
    """Each staff member's leave days from ``today`` on, as ISO dates."""
    found: dict[int, list[str]] = defaultdict(list)
    for user_id, day in session.execute(
        select(StaffLeave.user_id, StaffLeave.day)
        .where(StaffLeave.shop_id == shop_id, StaffLeave.day >= today)
        .order_by(StaffLeave.user_id, StaffLeave.day)
    ):
        found[user_id].append(day.isoformat())
    return dict(found)


def replace_future(
    session: Session, shop_id: int, user_id: int, days: Sequence[date], today: date
) -> bool:
    """Replace the user's leave from ``today`` on with ``days`` (none before
    today, none further than two years); whether anything changed."""
    early = [d for d in days if d < today]
    if early:
        raise errors.ValidationFailed("leave", errors.Message("Leave days cannot lie in the past."))
    if any(d > today + MAX_AHEAD for d in days):
        raise errors.ValidationFailed(
            "leave", errors.Message("Leave days lie at most two years ahead.")
        )
    before = {
        day
        for day in session.execute(
            select(StaffLeave.day).where(
                StaffLeave.shop_id == shop_id,
                StaffLeave.user_id == user_id,
                StaffLeave.day >= today,
            )
        ).scalars()
    }
    wanted = set(days)
    if before == wanted:
        return False
    session.execute(
        delete(StaffLeave).where(
            StaffLeave.shop_id == shop_id,
            StaffLeave.user_id == user_id,
            StaffLeave.day >= today,
        )
    )
    session.add_all(StaffLeave(shop_id=shop_id, user_id=user_id, day=d) for d in sorted(wanted))
    session.flush()
    return True
