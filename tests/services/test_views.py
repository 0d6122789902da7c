"""Redaction per audience, built from real order rows: what the wall board,
the public lounge TV and a customer's phone may each see of one order, and
when an order counts as late."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain import extra_work
from shared.domain import order as rules
from shared.domain.events import Event, WorkItem
from shared.domain.order import Actor, OrderState, apply_events
from shared.domain.stages import PauseReason, Role, Stage
from shared.persistence.models import RepairOrder
from shared.services.rows import write_state
from shared.services.views import customer_view, is_late, lounge_view, mask_plate, staff_view
from tests.conftest import LOUNGE_KEYS

T0 = datetime(2025, 6, 2, 1, 30, tzinfo=UTC)
SYSTEM = Actor("DMS", frozenset({Role.SYSTEM}))
PUBLIC_URL = "https://shop.example"
TOKEN = "capability-token-for-this-order"
NAMES = {7: "王师傅", 8: "李师傅"}
SECRETS = ("张三", "13800138000", "LSVAU2180N2183294", "王师傅", "李师傅")
CONTRACT_ORDER_KEYS = {
    "id",
    "number",
    "plate",
    "stage",
    "pause_reason",
    "version",
    "bay",
    "technicians",
    "promised_at",
    "eta",
    "waiting",
    "wash",
    "priority",
    "customer",
    "vehicle",
    "complaint",
    "items",
    "created_at",
    "updated_at",
    "customer_url",
}


def busy_order() -> OrderState:
    """An order with every personal detail filled in, dispatched to two
    named technicians, and waiting on a quote the advisor phoned about."""
    state = apply_events(
        None,
        rules.create(
            number=12,
            plate="粤B12345",
            now=T0,
            actor=SYSTEM,
            customer_name="张三",
            customer_phone="13800138000",
            vehicle_model="Passat",
            vehicle_vin="LSVAU2180N2183294",
            vehicle_mileage=42_000,
            complaint="异响",
            items=[WorkItem("保养", 1.5)],
            promised_at=T0 + timedelta(hours=3),
            wash=True,
        ),
    )
    steps: list[Callable[[OrderState], list[Event]]] = [
        lambda s: rules.assign(s, bay="B02", technicians=[7, 8], actor=SYSTEM, now=T0),
        lambda s: rules.transition(s, Stage.IN_PROGRESS, actor=SYSTEM, now=T0),
        lambda s: extra_work.quote_extra_work(
            s, description="刹车片", labour_hours=1, price_cents=48_000, actor=SYSTEM, now=T0
        ),
        lambda s: extra_work.quote_extra_work(
            s, description="雨刮", labour_hours=0.5, price_cents=9_000, actor=SYSTEM, now=T0
        ),
        lambda s: extra_work.decide_extra_work(
            s, quote_id=1, approved=True, quote_version=1, channel="phone", actor=SYSTEM, now=T0
        ),
    ]
    for step in steps:
        state = apply_events(state, step(state))
    return state


def as_row(state: OrderState, order_id: int = 5) -> RepairOrder:
    """The row the services would have written for this state."""
    row = RepairOrder(id=order_id, shop_id=1, customer_token=TOKEN)
    write_state(row, state)
    return row


# ---------------------------------------------------------------- mask_plate


@pytest.mark.parametrize(
    ("plate", "masked"),
    [
        ("粤B12345", "粤B·***45"),
        ("粤BD12345", "粤B·***45"),
        ("粤B12345D", "粤B·***5D"),
        ("京A1234学", "京A·***4学"),
        ("京A12345挂", "京A·***5挂"),
        ("AB12", "***2"),
        ("A12", "**2"),
        ("7", "7"),
        ("", ""),
    ],
)
def test_mask_plate(plate: str, masked: str) -> None:
    assert mask_plate(plate) == masked


def hidden(plate: str, masked: str) -> int:
    """How many of the plate's characters the mask keeps from the public."""
    shown = len(masked) - masked.count("*") - masked.count("·")
    return len(plate) - shown


@pytest.mark.parametrize("plate", ["粤B12345", "粤BD12345", "京A1234学", "AB12", "A12"])
def test_mask_plate_hides_at_least_three_characters_or_all_but_one(plate: str) -> None:
    assert hidden(plate, mask_plate(plate)) >= min(3, len(plate) - 1)


@pytest.mark.parametrize("plate", ["A1234", "粤1234", "AB1234"])
def test_mask_plate_hides_as_much_of_a_short_plate(plate: str) -> None:
    assert hidden(plate, mask_plate(plate)) >= 3, mask_plate(plate)


# ---------------------------------------------------------------- staff view


def test_staff_view_has_every_key_of_the_contract() -> None:
    row = as_row(busy_order())
    view = staff_view(row, NAMES, PUBLIC_URL, T0)
    assert CONTRACT_ORDER_KEYS - set(view) == set()
    assert view["customer_url"] == f"{PUBLIC_URL}/t/{TOKEN}"
    assert view["technicians"] == [{"id": 7, "name": "王师傅"}, {"id": 8, "name": "李师傅"}]
    assert view["customer"] == {
        "name": "张三",
        "phone": "13800138000",
        "email": "",
        "notify": [],
        "language": "",
        "opted_out": False,
    }
    assert view["vehicle"] == {"model": "Passat", "vin": "LSVAU2180N2183294", "mileage": 42_000}
    # Created, dispatched (2), started, two quotes (3 + 2), one decided (2).
    assert (view["stage"], view["pause_reason"], view["version"]) == ("paused", "approval", 11)
    assert view["pause_reasons"] == [
        {"key": "approval:2", "reason": "approval", "note": "雨刮", "expected_at": None}
    ]
    # Approved extra work counts towards the labour sold; declined or pending does not.
    assert view["labour_hours"] == 2.5
    json.dumps(view)


# ---------------------------------------------------------------- lounge view


def test_lounge_view_is_the_allow_list_only() -> None:
    state = busy_order()
    view = lounge_view(as_row(state))
    assert set(view) == LOUNGE_KEYS
    assert view == {
        "id": 5,
        "number": 12,
        "business_day": view["business_day"],
        "plate_masked": "粤B·***45",
        # No other car in the shop has that mask: nothing more of the plate.
        "plate_masked_more": None,
        "stage": "paused",
        "pause_reasons": ["approval"],
        "eta": state.eta.isoformat() if state.eta else None,
        "ready": False,
    }
    text = json.dumps(view, ensure_ascii=False)
    assert not any(secret in text for secret in (*SECRETS, "粤B12345", "48000", "B02"))


@pytest.mark.parametrize("stage", list(Stage))
def test_lounge_view_keys_do_not_depend_on_the_stage(stage: Stage) -> None:
    row = as_row(busy_order())
    row.stage = stage.value
    view = lounge_view(row)
    assert set(view) == LOUNGE_KEYS
    assert view["ready"] is (stage == Stage.READY)


# ---------------------------------------------------------------- customer view


def test_customer_view_leaves_out_other_peoples_data() -> None:
    row = as_row(busy_order())
    timeline = [{"stage": "checked_in", "at": T0.isoformat()}]

    for view in (customer_view(row), customer_view(row, timeline)):
        text = json.dumps(view, ensure_ascii=False)
        leaked = [secret for secret in SECRETS if secret in text]
        assert leaked == []
        assert not {"customer", "technicians", "customer_url", "complaint"} & set(view)
        assert "vin" not in view["vehicle"] and "mileage" not in view["vehicle"]
        assert all("channel" not in quote for quote in view["quotes"])
    # What the customer does need: their own car, its work and the quotes to decide.
    view = customer_view(row, timeline)
    assert view["plate"] == "粤B12345"
    assert view["timeline"] == timeline
    assert [(q["id"], q["status"]) for q in view["quotes"]] == [(1, "approved"), (2, "pending")]
    assert view["pause_reason"] == PauseReason.APPROVAL.value


# ---------------------------------------------------------------- is_late


def timed(stage: str, **times: Any) -> RepairOrder:
    return RepairOrder(
        stage=stage,
        promised_at=times.get("promised_at"),
        eta=times.get("eta"),
        ready_at=times.get("ready_at"),
    )


PROMISED = T0 + timedelta(hours=2)
BEFORE = PROMISED - timedelta(minutes=10)
AFTER = PROMISED + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("row", "now", "late"),
    [
        (timed("in_progress"), AFTER, False),
        (timed("in_progress", promised_at=PROMISED, eta=BEFORE), BEFORE, False),
        (timed("in_progress", promised_at=PROMISED), BEFORE, False),
        (timed("in_progress", promised_at=PROMISED, eta=PROMISED), PROMISED, False),
        (timed("in_progress", promised_at=PROMISED, eta=AFTER), BEFORE, True),
        (timed("paused", promised_at=PROMISED, eta=BEFORE), AFTER, True),
        (timed("checked_in", promised_at=PROMISED), AFTER, True),
        (timed("ready", promised_at=PROMISED, ready_at=BEFORE), AFTER, False),
        (timed("ready", promised_at=PROMISED, ready_at=AFTER), AFTER, True),
        (timed("ready", promised_at=PROMISED), AFTER, False),
        (timed("booked", promised_at=PROMISED, eta=AFTER), AFTER, False),
        (timed("delivered", promised_at=PROMISED, ready_at=AFTER), AFTER, False),
        (timed("cancelled", promised_at=PROMISED), AFTER, False),
    ],
    ids=[
        "no-promise",
        "on-track",
        "no-eta-yet",
        "due-this-minute",
        "eta-past-promise",
        "promise-passed",
        "promise-passed-before-dispatch",
        "ready-in-time-customer-not-here",
        "ready-too-late",
        "ready-without-time",
        "booked",
        "delivered",
        "cancelled",
    ],
)
def test_is_late(row: RepairOrder, now: datetime, late: bool) -> None:
    assert is_late(row, now) is late
