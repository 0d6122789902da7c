"""Comebacks (返修, issue 16): the advisor marks a visit as the comeback of
an earlier delivered visit of the same car within the shop's
``comeback_days``, and withdraws a mark set by mistake.

Real services on a real SQLite database, the orders walked through the real
REST API; time moves only through ``core.clock``. Every refusal is checked
to change nothing (the order's version, its log, the shop's seq), a
replayed Idempotency-Key to answer the first answer and write nothing, a
stale version to be refused with the order as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shared.domain import comebacks as rules
from shared.domain import errors
from shared.domain.events import ComebackFlagged, ComebackUnflagged, event_from_record
from shared.domain.order import apply_events
from shared.persistence.models import OrderEvent, RepairOrder, Shop
from shared.services import comebacks, shop_profile
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest, ReplayedRefusal, fingerprint
from shared.services.core import Core
from shared.services.rows import state_from_row
from tests.conftest import HandClock
from tests.reception.flow import Workshop, flask_call

# 10:00 in Asia/Shanghai, the seeded shop's zone.
START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
PLATE = "粤B12345"


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(START)
    core.clock = fixed
    return fixed


@pytest.fixture
def workshop(client: Any, shop: Any) -> Workshop:
    return Workshop(flask_call(client), shop)


def as_(
    shop: Any, who: str = "advisor", key: str | None = None, body: Any = None
) -> CommandRequest:
    principal = resolve_bearer(shop.core, shop.tokens[who])
    assert principal is not None
    return CommandRequest(
        actor=principal.actor(),
        shop_id=shop.shop_id,
        idempotency_key=key,
        fingerprint=fingerprint("POST", "/test", body) if key else None,
    )


def delivered(workshop: Workshop, plate: str = PLATE) -> dict[str, Any]:
    """A visit walked from check-in to delivery (at the clock's time)."""
    order = workshop.create(plate=plate)
    return dict(workshop.hand_over(workshop.finish(workshop.start(order))))


def trail(core: Core, shop_id: int) -> tuple[int, list[tuple[int, str]]]:
    """The shop's seq and every event of the log, (order, type): what a
    refusal must leave as it was."""
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        rows = session.execute(
            select(OrderEvent.order_id, OrderEvent.type).order_by(OrderEvent.seq)
        ).all()
        return shop.last_seq, [(order_id, kind) for order_id, kind in rows]


def comeback_events(core: Core, order_id: int) -> list[tuple[str, dict[str, Any]]]:
    with core.db.read() as session:
        rows = session.execute(
            select(OrderEvent.type, OrderEvent.data)
            .where(OrderEvent.order_id == order_id, OrderEvent.type.in_(rules.TYPES))
            .order_by(OrderEvent.seq)
        ).all()
        return [(kind, dict(data)) for kind, data in rows]


def flag(core: Core, shop: Any, order: dict[str, Any], of: dict[str, Any], **more: Any) -> Any:
    fields: dict[str, Any] = {
        "of_order_id": of["id"],
        "note": "刹车异响又出现",
        "version": order["version"],
    }
    fields.update(more)
    return comebacks.flag_comeback(core, as_(shop), order["id"], **fields)


def refused(core: Core, shop: Any, run: Any, error: type[errors.DomainError]) -> errors.DomainError:
    """Run a command that must be refused; nothing of the log may change."""
    before = trail(core, shop.shop_id)
    with pytest.raises(error) as caught:
        run()
    assert trail(core, shop.shop_id) == before
    return caught.value


# ---------------------------------------------------------------- the mark


def test_a_return_within_the_window_is_marked_with_its_days_and_fault(
    core: Core, shop: Any, clock: HandClock, workshop: Workshop
) -> None:
    first = delivered(workshop)
    clock.advance(days=12)
    back = workshop.create(plate=PLATE)
    listed = comebacks.candidates(core, shop.shop_id, back["id"])
    assert listed["comeback"] is None and listed["comeback_days"] == rules.DEFAULT_DAYS
    [candidate] = listed["candidates"]
    assert (candidate["order_id"], candidate["number"], candidate["days"]) == (
        first["id"],
        first["number"],
        12,
    )
    assert candidate["items"] == ["更换机油"] and candidate["complaint"] == "保养"

    outcome = flag(core, shop, back, first, note="  刹车异响又出现  ")
    assert outcome.status == 200
    mark = outcome.body["comeback"]
    assert (mark["of_order_id"], mark["of_number"], mark["days"], mark["note"]) == (
        first["id"],
        first["number"],
        12,
        "刹车异响又出现",
    )
    assert mark["by"] == "test advisor" and mark["of_business_day"] == "2026-05-04"
    # One event, one version more; the screens get the order's new version.
    assert outcome.body["order"]["version"] == back["version"] + 1
    assert [c.order_id for c in outcome.changes] == [back["id"]]
    assert comeback_events(core, back["id"]) == [
        (
            "comeback_flagged",
            {
                "of_order_id": first["id"],
                "of_number": first["number"],
                "days": 12,
                "note": "刹车异响又出现",
            },
        )
    ]
    # The mark is read back from the log; the candidates read says so too.
    assert comebacks.candidates(core, shop.shop_id, back["id"])["comeback"] == mark
    desk = comebacks.desk_view(core, shop.shop_id)["orders"]
    assert desk[str(back["id"])]["comeback"] == mark


def test_the_window_is_counted_in_shop_days(
    core: Core, shop: Any, clock: HandClock, workshop: Workshop
) -> None:
    """Delivered at 23:30 shop time; 30 shop days later at 00:30 is inside
    the 30-day window (30 days and one hour of clock time), the next
    morning is not."""
    clock.now = datetime(2026, 5, 4, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    first = delivered(workshop)
    clock.now = datetime(2026, 6, 2, 16, 30, tzinfo=UTC)  # 06-03 00:30: 30 shop days
    inside = workshop.create(plate=PLATE)
    [candidate] = comebacks.candidates(core, shop.shop_id, inside["id"])["candidates"]
    assert candidate["days"] == 30
    clock.now = datetime(2026, 6, 3, 16, 10, tzinfo=UTC)  # 06-04 00:10: 31 shop days
    outside = workshop.create(plate="粤B12345")
    assert comebacks.candidates(core, shop.shop_id, outside["id"])["candidates"] == []
    error = refused(core, shop, lambda: flag(core, shop, outside, first), errors.ValidationFailed)
    assert error.extra["field"] == "of_order_id"
    assert error.detail == (
        f"Order {first['number']} was delivered 31 days before this visit; a comeback is "
        "within 30 days."
    )
    assert error.extra["order"]["version"] == outside["version"]
    assert flag(core, shop, inside, first).body["comeback"]["days"] == 30


def test_the_window_is_the_shops_setting(
    core: Core, shop: Any, clock: HandClock, workshop: Workshop
) -> None:
    first = delivered(workshop)
    profile = shop_profile.profile(core, shop.shop_id)
    shop_profile.update_profile(
        core,
        as_(shop, "admin"),
        shop_profile.ProfileChange(comeback_days=7),
        version=profile["version"],
    )
    assert shop_profile.profile(core, shop.shop_id)["comeback_days"] == 7
    clock.advance(days=8)
    back = workshop.create(plate=PLATE)
    assert comebacks.candidates(core, shop.shop_id, back["id"])["candidates"] == []
    error = refused(core, shop, lambda: flag(core, shop, back, first), errors.ValidationFailed)
    assert "within 7 days" in error.detail
    with pytest.raises(errors.ValidationFailed) as wrong:
        shop_profile.update_profile(
            core,
            as_(shop, "admin"),
            shop_profile.ProfileChange(comeback_days=rules.MAX_DAYS + 1),
            version=profile["version"] + 1,
        )
    assert wrong.value.extra["field"] == "comeback_days"
    assert shop_profile.profile(core, shop.shop_id)["comeback_days"] == 7


# ---------------------------------------------------------------- refusals


def test_every_refusal_names_its_rule_and_changes_nothing(
    core: Core, shop: Any, clock: HandClock, workshop: Workshop
) -> None:
    first = delivered(workshop)
    other_car = delivered(workshop, plate="粤B99999")
    clock.advance(days=3)
    still_here = workshop.create(plate=PLATE)
    back = workshop.create(plate=PLATE)

    def detail(of: dict[str, Any]) -> str:
        error = refused(core, shop, lambda: flag(core, shop, back, of), errors.ValidationFailed)
        assert error.extra["field"] == "of_order_id"
        # The refusal carries the order as it is, for the desk to redraw.
        assert error.extra["order"]["id"] == back["id"]
        return error.detail

    assert detail(other_car) == f"Order {other_car['number']} was another car (粤B99999)."
    assert detail(still_here) == f"Order {still_here['number']} was not delivered."
    assert detail(back) == "A visit cannot be a comeback of itself."
    assert detail({"id": 999_999}) == "No order 999999 in this shop."
    # Delivered after this car came in: the same plate twice at once.
    clock.advance(hours=1)
    later = dict(workshop.hand_over(workshop.finish(workshop.start(still_here))))
    assert detail(later) == f"Order {later['number']} was delivered after this car came in."

    # A technician or a screen may not mark; nor without the fault.
    refused(
        core,
        shop,
        lambda: comebacks.flag_comeback(
            core,
            as_(shop, "technician"),
            back["id"],
            of_order_id=first["id"],
            note="x",
            version=back["version"],
        ),
        errors.Forbidden,
    )
    blank = refused(
        core, shop, lambda: flag(core, shop, back, first, note="  "), errors.ValidationFailed
    )
    assert blank.extra["field"] == "note"
    long = refused(
        core, shop, lambda: flag(core, shop, back, first, note="异" * 501), errors.ValidationFailed
    )
    assert long.extra["field"] == "note"

    # A stale version: 409 with the order as it is now.
    moved = workshop.move(back, "cancelled", reason="客户改期")
    stale = refused(core, shop, lambda: flag(core, shop, back, first), errors.StaleVersion)
    assert stale.extra["order"]["version"] == moved["version"]
    assert comeback_events(core, back["id"]) == []


def test_one_mark_at_a_time_and_a_withdrawn_one_can_be_set_again(
    core: Core, shop: Any, clock: HandClock, workshop: Workshop
) -> None:
    first = delivered(workshop)
    clock.advance(days=5)
    second = delivered(workshop)
    clock.advance(days=5)
    back = workshop.create(plate=PLATE)
    # Both earlier visits are candidates, the latest delivery first.
    listed = comebacks.candidates(core, shop.shop_id, back["id"])["candidates"]
    assert [(c["order_id"], c["days"]) for c in listed] == [(second["id"], 5), (first["id"], 10)]
    marked = flag(core, shop, back, second).body
    version = marked["order"]["version"]

    again = refused(
        core, shop, lambda: flag(core, shop, back, first, version=version), rules.AlreadyFlagged
    )
    assert again.status == 409 and again.code == "already_flagged"
    assert again.extra["comeback"] == marked["comeback"]

    withdrawn = comebacks.unflag_comeback(
        core, as_(shop), back["id"], reason="  看错了车  ", version=version
    ).body
    assert withdrawn["comeback"] is None and withdrawn["order"]["version"] == version + 1
    none_left = refused(
        core,
        shop,
        lambda: comebacks.unflag_comeback(
            core, as_(shop), back["id"], reason="再撤", version=version + 1
        ),
        rules.NotFlagged,
    )
    assert none_left.code == "not_flagged" and none_left.status == 409

    remarked = flag(core, shop, back, first, version=version + 1).body["comeback"]
    assert remarked["of_order_id"] == first["id"] and remarked["days"] == 10
    assert [kind for kind, _data in comeback_events(core, back["id"])] == [
        "comeback_flagged",
        "comeback_unflagged",
        "comeback_flagged",
    ]
    assert comeback_events(core, back["id"])[1][1] == {
        "of_order_id": second["id"],
        "reason": "看错了车",
    }


def test_a_booked_car_counts_from_its_check_in(
    core: Core, shop: Any, clock: HandClock, workshop: Workshop
) -> None:
    first = delivered(workshop)
    clock.advance(days=1)
    booked = workshop.create(plate=PLATE, booked=True)
    assert booked["stage"] == "booked"
    error = refused(core, shop, lambda: flag(core, shop, booked, first), errors.IllegalTransition)
    assert error.detail == "Only a car that was checked in can be a comeback."
    clock.advance(days=2)
    arrived = workshop.move(booked, "checked_in")
    [candidate] = comebacks.candidates(core, shop.shop_id, arrived["id"])["candidates"]
    assert candidate["days"] == 3  # from the check-in, not the booking
    assert flag(core, shop, arrived, first).body["comeback"]["days"] == 3


# ---------------------------------------------------------------- idempotency


def test_a_replayed_key_answers_the_first_answer_and_writes_nothing(
    core: Core, shop: Any, clock: HandClock, workshop: Workshop
) -> None:
    first = delivered(workshop)
    clock.advance(days=2)
    back = workshop.create(plate=PLATE)
    body = {"of_order_id": first["id"], "note": "漏油", "version": back["version"]}

    def run(key: str, sent: dict[str, Any]) -> Any:
        return comebacks.flag_comeback(core, as_(shop, key=key, body=sent), back["id"], **sent)

    answer = run("cb-1", body)
    after = trail(core, shop.shop_id)
    replay = run("cb-1", body)
    assert replay.replayed and replay.body == answer.body and replay.status == 200
    assert trail(core, shop.shop_id) == after
    with pytest.raises(errors.DomainError) as reuse:
        run("cb-1", {**body, "note": "别的"})
    assert reuse.value.code == "idempotency_key_reuse"
    # A refusal is bound to its key too: the replay is the same refusal.
    stale = {**body, "note": "又一次"}
    with pytest.raises(rules.AlreadyFlagged):
        run("cb-2", {**stale, "version": answer.body["order"]["version"]})
    with pytest.raises(ReplayedRefusal) as again:
        run("cb-2", {**stale, "version": answer.body["order"]["version"]})
    assert again.value.code == "already_flagged" and again.value.status == 409
    assert trail(core, shop.shop_id) == after


# ---------------------------------------------------------------- the log


def test_the_events_replay_from_their_stored_form(
    core: Core, shop: Any, clock: HandClock, workshop: Workshop
) -> None:
    """The order's state is the fold of its stored log, the comeback events
    included (each one version), and the mark is the fold of those."""
    first = delivered(workshop)
    clock.advance(days=1)
    back = workshop.create(plate=PLATE)
    version = flag(core, shop, back, first).body["order"]["version"]
    comebacks.unflag_comeback(core, as_(shop), back["id"], reason="误标", version=version)
    with core.db.read() as session:
        stored = session.execute(
            select(OrderEvent).where(OrderEvent.order_id == back["id"]).order_by(OrderEvent.seq)
        ).scalars()
        events = [event_from_record(e.type, e.at, dict(e.data)) for e in stored]
        row = session.get(RepairOrder, back["id"])
        assert row is not None
        state = state_from_row(row)
        assert comebacks.marks(session, [back["id"]]) == {}
    flagged = [e for e in events if isinstance(e, ComebackFlagged)]
    unflagged = [e for e in events if isinstance(e, ComebackUnflagged)]
    assert flagged[0].of_order_id == first["id"] and unflagged[0].reason == "误标"
    replayed = apply_events(None, events)
    assert replayed.version == state.version == len(events)
    assert replayed.edit_version == state.edit_version


def test_the_mark_is_the_last_flag_not_withdrawn() -> None:
    at = START
    flagged = ("comeback_flagged", {"of_order_id": 1, "of_number": 3, "days": 2, "note": "a"})
    withdrawn = ("comeback_unflagged", {"of_order_id": 1, "reason": "b"})
    again = ("comeback_flagged", {"of_order_id": 2, "of_number": 5, "days": 9, "note": "c"})
    assert rules.mark_of([]) is None
    assert rules.mark_of([(*flagged, at, "陈")]) == rules.Mark(1, 3, 2, "a", at, "陈")
    assert rules.mark_of([(*flagged, at, ""), (*withdrawn, at, "")]) is None
    later = at + timedelta(hours=1)
    assert rules.mark_of([(*flagged, at, ""), (*withdrawn, at, ""), (*again, later, "")]) == (
        rules.Mark(2, 5, 9, "c", later, "")
    )
