"""Masked plates on the public lounge TV: two cars whose masks read the same
(粤B12352 and 粤B98752 are both 粤B·***52) can be told apart by one more
character, and still the lounge never receives a whole plate: not in its
view of an order, not in its snapshot, not in a live message.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import ValidationFailed
from shared.domain.events import WorkItem
from shared.domain.plates import PROVINCES, SUFFIXES, normalise_plate
from shared.domain.stages import Stage
from shared.persistence.models import RepairOrder
from shared.services import orders
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.views import (
    PLATE_HIDDEN_MINIMUM,
    lounge_view,
    mask_plate,
    mask_plate_more,
)

# Every plate the product accepts: a province (optional), 4–8 letters or
# digits, a suffix (optional).
PLATES = st.from_regex(rf"\A[{PROVINCES}]?[A-Z0-9]{{4,8}}[{SUFFIXES}]?\Z")


def shown_characters(masked: str) -> int:
    return sum(1 for c in masked if c not in "*·")


def hidden(plate: str, masked: str) -> int:
    return len(plate) - shown_characters(masked)


def canonical(raw: str) -> str | None:
    try:
        return normalise_plate(raw)
    except ValidationFailed:
        return None


def test_two_plates_that_mask_alike_differ_with_one_more_character() -> None:
    assert mask_plate("粤B12352") == mask_plate("粤B98752") == "粤B·***52"
    assert mask_plate_more("粤B12352") == "粤B·**352"
    assert mask_plate_more("粤B98752") == "粤B·**752"
    # A new-energy plate (eight characters) hides one more than an ordinary one.
    assert mask_plate_more("粤BD12345") == "粤B·**345"
    assert hidden("粤BD12345", mask_plate_more("粤BD12345")) == 3


@settings(max_examples=300, deadline=None)
@given(PLATES)
def test_no_mask_ever_shows_the_whole_plate(raw: str) -> None:
    plate = canonical(raw)
    if plate is None:
        return
    short, more = mask_plate(plate), mask_plate_more(plate)
    assert plate not in short and plate not in more
    assert hidden(plate, more) >= PLATE_HIDDEN_MINIMUM, (plate, more)
    # One character more than the usual mask, or none when the plate is too
    # short to spare one.
    assert shown_characters(more) - shown_characters(short) in (0, 1), (plate, short, more)
    # What it shows is the plate's own start and end, in place.
    assert plate.startswith(more.split("*")[0].rstrip("·"))
    assert plate.endswith(more.split("*")[-1])


def caller(core: Core, shop: Any) -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens["advisor"])
    assert principal is not None
    return CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)


PLATES_IN_SHOP = ("粤B12352", "粤B98752", "粤S00052", "粤BD12345", "A1234", "AB1234")


def open_all(core: Core, shop: Any) -> list[dict[str, Any]]:
    return [
        orders.create_order(
            core, caller(core, shop), plate=plate, items=[WorkItem("保养", 1.0)], waiting=True
        ).body
        for plate in PLATES_IN_SHOP
    ]


def assert_no_plate_in(payload: Any, where: str) -> None:
    plain = json.dumps(payload, ensure_ascii=False)
    # Also with the mask's middle dot taken out: 粤B·12352 is the whole plate too.
    for text in (plain, plain.replace("·", ""), json.dumps(payload)):
        for plate in PLATES_IN_SHOP:
            assert plate not in text, f"{plate} reached the lounge's {where}"
            assert json.dumps(plate)[1:-1] not in text, f"{plate} reached the lounge's {where}"


def test_the_lounge_view_carries_both_masks_and_never_the_plate(core: Core, shop: Any) -> None:
    created = open_all(core, shop)
    with core.db.read() as session:
        views = []
        for order in created:
            row = session.get(RepairOrder, order["id"])
            assert row is not None
            views.append(lounge_view(row))
    assert_no_plate_in(views, "view")
    by_plate = dict(zip(PLATES_IN_SHOP, views, strict=True))
    assert by_plate["粤B12352"]["plate_masked"] == by_plate["粤B98752"]["plate_masked"]
    assert by_plate["粤B12352"]["plate_masked_more"] != by_plate["粤B98752"]["plate_masked_more"]
    twins = {"粤B12352", "粤B98752", "A1234", "AB1234"}  # ***52 twice, ***34 twice
    for plate, view in by_plate.items():
        assert view["plate_masked"] == mask_plate(plate)
        # Only a car with a twin gives the TV more of its plate.
        assert view["plate_masked_more"] == (mask_plate_more(plate) if plate in twins else None)
        assert view["business_day"] == created[0]["business_day"]


def test_no_plate_reaches_the_lounge_socket(app: Any, socketio: Any, core: Core, shop: Any) -> None:
    early = open_all(core, shop)[0]
    lounge = socketio.test_client(app, auth={"token": shop.tokens["display-lounge"]})
    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    # A live change of a car whose plate clashes with another's.
    orders.transition_order(
        core,
        caller(core, shop),
        early["id"],
        to=Stage.CANCELLED,
        version=early["version"],
        reason="客户改天再来",
    )
    received = lounge.get_received()
    names = [m["name"] for m in received]
    assert "snapshot" in names and "order" in names, names
    [snapshot] = [m["args"][0] for m in received if m["name"] == "snapshot"]
    assert len(snapshot["orders"]) == len(PLATES_IN_SHOP)
    assert_no_plate_in([m["args"] for m in received], "socket")
    # The same change on the board carries the plate: the check above can see one.
    seen_by_staff = json.dumps([m["args"] for m in board.get_received()], ensure_ascii=False)
    assert "粤B12352" in seen_by_staff
    lounge.disconnect()
    board.disconnect()
