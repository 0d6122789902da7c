"""Who stands on a bay, read for one dispatch: the cars the standing rule
(``shared.domain.bays.standing``) puts on it, and how many it takes.

Read inside the command's transaction, after the shop row was locked, so
that two dispatches to the same bay cannot both see it free. The wall board
draws its bay strip by the same rule, so what it shows free is free here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.domain import bays, stages
from shared.persistence.models import RepairOrder
from shared.services.queries import bays_in_order


def on_bay(
    session: Session, shop_id: int, bay: str, *, order_id: int
) -> tuple[int, list[bays.Holder]]:
    """The capacity of ``bay`` and the other cars standing on it now (every
    car but ``order_id``). A bay no longer on the shop's list (a car taken
    back into repair on it) still takes one car, like any repair bay."""
    places = [
        bays.Place(b.code, b.kind, b.capacity, not b.out_of_service_reason)
        for b in bays_in_order(session, shop_id)
    ]
    place = next((p for p in places if p.code == bay), None)
    washes_here = place is not None and place.kind in bays.WASH_KINDS
    # Cars being washed are placed over all the wash bays, so a wash bay's
    # holders need every one of them; any other bay only its own cars.
    read = [*stages.HOLDING_STAGES, *(bays.WASHING_STAGES if washes_here else ())]
    query = select(
        RepairOrder.id,
        RepairOrder.number,
        RepairOrder.plate,
        RepairOrder.stage,
        RepairOrder.bay,
        RepairOrder.stage_entered_at,
    ).where(
        RepairOrder.shop_id == shop_id,
        RepairOrder.stage.in_([stage.value for stage in read]),
        RepairOrder.id != order_id,
    )
    if not washes_here:
        query = query.where(RepairOrder.bay == bay)
    cars = [
        bays.Standing(bays.Holder(id_, number, plate), stages.Stage(stage), code, since)
        for id_, number, plate, stage, code, since in session.execute(query).all()
    ]
    return (1 if place is None else place.capacity), bays.standing(cars, places).get(bay, [])
